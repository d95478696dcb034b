"""The playground: ``descentlab serve`` — an interactive optimizer lab in the browser.

:mod:`.compute` does the work (surfaces, races, drag fields, traces, maps, exports) with the
library and the lab; :mod:`.app` is the web layer (FastAPI: validated request models, an
OpenAPI schema, the static page under ``static/``). The page holds no update rule: it asks
the server for every path. See docs/playground.md.
"""
