"""AppConfigs for Django's contrib apps with ObjectId primary keys (MongoDB backend only)."""
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig

from topoforge.config import MONGODB_AUTO_FIELD


class MongoAdminConfig(AdminConfig):
    default_auto_field = MONGODB_AUTO_FIELD


class MongoAuthConfig(AuthConfig):
    default_auto_field = MONGODB_AUTO_FIELD


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = MONGODB_AUTO_FIELD
