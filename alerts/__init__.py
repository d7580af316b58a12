"""Alerting: detections that reach an AlertConfig's threshold become stored deliveries.

``matching`` turns stored detections into ``AlertDelivery`` rows (folding those within a config's
cooldown into one alert); ``worker`` claims due deliveries and sends them through ``channels``;
``ssrf`` vets every webhook target at save time and again just before connecting.
"""
