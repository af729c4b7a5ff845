"""The API docs pages (Swagger UI and ReDoc), with their scripts served by the app itself.

The pages work on a machine without internet: nothing they load comes from a CDN.
The assets ship in PyPI packages (swagger-ui-py for Swagger UI 5, openapi-ui-bundles
for ReDoc); only their files are used, never their code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Router
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        msg = f"the docs assets package {name} is not installed"
        raise RuntimeError(msg)
    return Path(next(iter(spec.submodule_search_locations)))


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema/swagger and ReDoc at /schema/redoc, loading only local assets."""
    return [
        SwaggerRenderPlugin(
            js_url=f"{ASSETS}/swagger/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/swagger/favicon-32x32.png'>",
        ),
        RedocRenderPlugin(js_url=f"{ASSETS}/redoc/redoc.standalone.js", google_fonts=False, favicon=""),
    ]


def assets_router() -> Router:
    """The scripts and styles the docs pages load (public, like the schema)."""
    swagger = create_static_files_router(
        path=f"{ASSETS}/swagger", directories=[_package_dir("swagger_ui") / "static"], name="swagger-assets"
    )
    redoc = create_static_files_router(
        path=f"{ASSETS}/redoc", directories=[_package_dir("openapi_ui_bundles.redoc") / "vendor"], name="redoc-assets"
    )
    return Router(path="/", route_handlers=[swagger, redoc], include_in_schema=False)
