"""The API's routes, one APIRouter per resource: ``predict`` (POST /predict) and ``meta``
(GET /health, GET /version). api.main includes them in the app."""
