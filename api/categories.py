"""URL table of the dispute categories: everyone reads them, the administrator maintains them."""

from flask.views import MethodView

from api.auth import allow, request_now
from api.inputs import Blueprint
from api.schemas.categories import CategoryIn, CategoryListQuery, CategoryOut, CategoryUpdateIn
from core.db import db
from mediation.disputes import categories
from mediation.users.enums import ADMIN

categories_bp = Blueprint(
    "categories", __name__, url_prefix="/api/v1/categories", description="纠纷类别（可扩展的数据）"
)
blueprints = [categories_bp]


def category_dict(row) -> dict:
    """A category as answered."""
    return {
        "code": row.code,
        "label": row.label,
        "position": row.position,
        "retired": row.retired_at is not None,
        "retired_at": row.retired_at,
    }


@categories_bp.route("")
class Categories(MethodView):
    @allow()
    @categories_bp.arguments(CategoryListQuery, location="query")
    @categories_bp.response(200, CategoryOut(many=True))
    def get(self, args):
        """The dispute categories in display order (retired ones too unless asked not to)."""
        rows = categories.list_categories(db.session, include_retired=args["include_retired"])
        return [category_dict(r) for r in rows]

    @allow(ADMIN)
    @categories_bp.arguments(CategoryIn)
    @categories_bp.response(201, CategoryOut)
    @categories_bp.alt_response(
        409, description="该代码已使用过（含已停用的类别），代码不能重复使用 (category_code_taken)"
    )
    def post(self, data):
        """Add a category of this deployment (409 `category_code_taken` for a code used before)."""
        row = categories.add_category(db.session, now=request_now(), **data)
        db.session.commit()
        return category_dict(row)


@categories_bp.route("/<code>")
class Category(MethodView):
    @allow(ADMIN)
    @categories_bp.arguments(CategoryUpdateIn)
    @categories_bp.response(200, CategoryOut)
    def patch(self, data, code):
        """Rename or retire a category (a retired code stays reserved; nothing is deleted)."""
        row = categories.update_category(db.session, code=code, now=request_now(), **data)
        db.session.commit()
        return category_dict(row)
