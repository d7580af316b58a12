"""The topology engine. Plain numpy + ripser: no Django imports anywhere in this package."""
