"""The base serializer every API model serializer derives from.

MongoDB's ObjectId primary keys are not JSON; a plain ModelSerializer would fail to render them
(and would render SQL ids as numbers). Here every primary key and foreign key leaves the API as a
string on every backend, so clients never see a difference.
"""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(OpenApiTypes.STR)
class StringIdRelatedField(serializers.PrimaryKeyRelatedField):
    def to_representation(self, value):
        return str(value.pk)


@extend_schema_field(OpenApiTypes.STR)
class StringIdField(serializers.Field):
    """Read-only primary key rendered as a string."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return str(value)


class ModelSerializer(serializers.ModelSerializer):
    serializer_related_field = StringIdRelatedField

    def build_standard_field(self, field_name, model_field):
        if model_field.primary_key:
            return StringIdField, {"help_text": "Identifier, always a string."}
        return super().build_standard_field(field_name, model_field)
