"""URL table for areas, cells and locate."""

from dataclasses import asdict

from flask import current_app
from flask.views import MethodView

from api.auth import allow, current_actor
from api.inputs import Blueprint
from api.schemas.geo import (
    AreaChildOut,
    FeatureCollectionOut,
    FeatureOut,
    GeometryQuery,
    LocateOut,
    LocateQuery,
)
from core.db import db
from geo import areas
from geo.locate import locate

geo_bp = Blueprint("geo", __name__, url_prefix="/api/v1", description="区划、网格与定位")
blueprints = [geo_bp]


def located_to_dict(result) -> dict:
    """A Located result in the API's nested shape."""
    d = asdict(result)
    return {
        "lon": d["lon"],
        "lat": d["lat"],
        "cell": {"code": d["cell_code"], "name": d["cell_name"]},
        "village": {"code": d["village_code"], "name": d["village_name"]},
        "township": {"code": d["township_code"], "name": d["township_name"]},
        "county": {"code": d["county_code"], "name": d["county_name"]},
        "match": d["match"],
        "distance_m": d["distance_m"],
        "candidates": d["candidates"],
    }


@geo_bp.route("/locate")
class Locate(MethodView):
    @allow()
    @geo_bp.arguments(LocateQuery, location="query")
    @geo_bp.response(200, LocateOut)
    def get(self, args):
        """Locate a point: cell, village, township and county."""
        result = locate(
            db.session,
            lon=args["lon"],
            lat=args["lat"],
            system=args["crs"],
            tolerance_m=current_app.config["LOCATE_TOLERANCE_M"],
        )
        return located_to_dict(result)


@geo_bp.route("/areas")
class AreaRoots(MethodView):
    @allow()
    @geo_bp.response(200, AreaChildOut(many=True))
    def get(self):
        """Top of the area tree (counties)."""
        return areas.list_children(db.session, code=None, scope=current_actor().map_scope)


@geo_bp.route("/areas/<string:code>")
class AreaDetail(MethodView):
    @allow()
    @geo_bp.arguments(GeometryQuery, location="query")
    @geo_bp.response(200, FeatureOut)
    def get(self, args, code):
        """An area as a GeoJSON Feature."""
        return areas.area_feature(
            db.session,
            code=code,
            scope=current_actor().map_scope,
            system=args["crs"],
            simplify_m=args["simplify_m"],
        )


@geo_bp.route("/areas/<string:code>/children")
class AreaChildren(MethodView):
    @allow()
    @geo_bp.response(200, AreaChildOut(many=True))
    def get(self, code):
        """Children of an area (township → villages …)."""
        scope = current_actor().map_scope
        areas.get_area(db.session, code=code, scope=scope)
        return areas.list_children(db.session, code=code, scope=scope)


@geo_bp.route("/areas/<string:code>/cells")
class AreaCells(MethodView):
    @allow()
    @geo_bp.arguments(GeometryQuery, location="query")
    @geo_bp.response(200, FeatureCollectionOut)
    def get(self, args, code):
        """The grid cells of an area as a FeatureCollection (optionally simplified)."""
        return areas.cells_of_area(
            db.session,
            code=code,
            scope=current_actor().map_scope,
            system=args["crs"],
            simplify_m=args["simplify_m"],
        )


@geo_bp.route("/cells/<string:code>")
class CellDetail(MethodView):
    @allow()
    @geo_bp.arguments(GeometryQuery, location="query")
    @geo_bp.response(200, FeatureOut)
    def get(self, args, code):
        """A grid cell as a GeoJSON Feature."""
        return areas.cell_feature(
            db.session,
            code=code,
            scope=current_actor().map_scope,
            system=args["crs"],
            simplify_m=args["simplify_m"],
        )
