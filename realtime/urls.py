from django.urls import path

from realtime import api, health, sse, views

app_name = "realtime"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/realtime/ticket", api.TicketView.as_view(), name="ticket"),
    path("api/realtime/stream", sse.StreamView.as_view(), name="stream"),
]
