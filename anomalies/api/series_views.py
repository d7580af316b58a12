"""``GET /api/series``: the registered series, their latest score and anomaly, rows and owner.

The list reads the registry (``Series``, one row per series, indexed on the orderings), so it
costs the same with thousands of series; the ``rows`` of the page's series are added up from the
daily rollups in one grouped query.
"""
from django.db.models import F, Sum
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.permissions import IsAuthenticated

from anomalies.api.pagination import PagePagination
from anomalies.models import DetectionRollup, RollupPeriod, Series
from topoforge import openapi

ORDERINGS = {
    "-last_score": (F("last_score").desc(nulls_last=True), "source_type", "series"),
    "last_score": (F("last_score").asc(nulls_last=True), "source_type", "series"),
    "-last_anomaly_at": (F("last_anomaly_at").desc(nulls_last=True), "source_type", "series"),
    "last_anomaly_at": (F("last_anomaly_at").asc(nulls_last=True), "source_type", "series"),
    "-last_at": ("-last_at", "source_type", "series"),
    "series": ("series", "source_type"),
}


class SeriesQuerySerializer(serializers.Serializer):
    source_type = serializers.CharField(required=False, max_length=64, help_text="Only the series of this source.")
    series = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Only the series of this name (exact)."
    )
    ordering = serializers.ChoiceField(
        choices=list(ORDERINGS), required=False, default="-last_score",
        help_text="`-last_score` (default: the most anomalous first), `-last_anomaly_at` (the most "
        "recent anomaly first), their ascending forms, `-last_at` or `series`; series without a "
        "score or an anomaly come last.",
    )


class SeriesSerializer(serializers.ModelSerializer):
    rows = serializers.IntegerField(
        help_text="Detections stored for the series (from the daily rollups).", read_only=True
    )

    class Meta:
        model = Series
        fields = ["source_type", "series", "last_score", "last_at", "last_anomaly_at", "rows", "owner", "updated_at"]


@extend_schema(
    tags=["anomalies"],
    summary="List series",
    description="Every series the detector has stored rows for (one per `source_type` and "
    "`series`; `series` is blank for an unsplit stream): the rarity of its latest row, the time "
    "of its latest anomaly, its stored rows and the worker that owns it (`owner`, blank for the "
    "single-process `detect`). Paged with `page` and `limit`.",
    parameters=[SeriesQuerySerializer],
    responses={200: SeriesSerializer(many=True), **openapi.READ_ERRORS, 404: openapi.NOT_FOUND},
)
class SeriesListView(generics.ListAPIView):
    serializer_class = SeriesSerializer
    pagination_class = PagePagination
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        query = SeriesQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        queryset = Series.objects.all()
        if "source_type" in options:
            queryset = queryset.filter(source_type=options["source_type"])
        if "series" in options:
            queryset = queryset.filter(series=options["series"])
        return queryset.order_by(*ORDERINGS[options["ordering"]])

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        with_rows(page)
        return page


def with_rows(entries):
    """Set ``rows`` on each registry entry: its detections counted by the daily rollups."""
    if not entries:
        return
    counts = {
        (group["source_type"], group["series"]): group["rows"]
        for group in DetectionRollup.objects.filter(
            period=RollupPeriod.DAY,
            source_type__in={entry.source_type for entry in entries},
            series__in={entry.series for entry in entries},
        ).order_by().values("source_type", "series").annotate(rows=Sum("count"))
    }
    for entry in entries:
        entry.rows = counts.get((entry.source_type, entry.series), 0)
