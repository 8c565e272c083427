"""The hub's HTTP interface: GET /v1/directory and one POST per message kind (signed envelopes)."""
from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sesshu.hub.service import KINDS, HubContext, HubRefusal, directory, handle
from sesshu.linkage.envelope import EnvelopeError

_MAX_BODY = 8 * 1024 * 1024


def create_hub_app(ctx: HubContext) -> FastAPI:
    app = FastAPI(title="sesshu hub", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = ctx.db

    @app.get("/v1/directory")
    def get_directory() -> dict:
        return directory(ctx)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    def make_route(kind: str):
        async def route(request: Request):
            raw = await request.body()
            if len(raw) > _MAX_BODY:
                return JSONResponse({"error": "E_TOO_LARGE", "message": "電文が大きすぎます"}, status_code=413)
            try:
                env = json.loads(raw)
            except ValueError:
                return JSONResponse({"error": "E_FORMAT", "message": "電文がJSONとして読めません"}, status_code=400)
            try:
                return await run_in_threadpool(handle, ctx, kind, env)
            except HubRefusal as e:
                return JSONResponse({"error": e.code, "message": e.reason}, status_code=e.status)
            except EnvelopeError as e:
                status = 409 if e.code in ("E_REPLAY", "E_STALE") else 400
                return JSONResponse({"error": e.code, "message": e.reason}, status_code=status)

        return route

    for kind in KINDS:
        app.add_api_route(f"/v1/{kind.replace('_', '-')}", make_route(kind), methods=["POST"])
    return app
