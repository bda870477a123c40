"""gunicorn settings for `gunicorn -c api/gunicorn.conf.py api.main:app` (local and the image).

Environment: HOST/PORT (bind, default 127.0.0.1:8000), WEB_CONCURRENCY (workers, default
the number of usable CPUs: scoring is CPU-bound, one process per core),
GUNICORN_TIMEOUT (default 120 s: the heartbeat of a worker that is serving; see below).
"""

import os

host = os.environ.get("HOST", "127.0.0.1")
port = int(os.environ.get("PORT", "8000"))
bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]

workers = int(os.environ.get("WEB_CONCURRENCY", str(len(os.sched_getaffinity(0)))))
# A listening socket per worker (SO_REUSEPORT): the kernel spreads new connections over the
# workers by hash. With one shared socket, the worker that wakes first accepts a whole burst
# (an asyncio server accepts many per wake-up): 47 of 50 keep-alive connections on one of two
# workers under wrk, whose clients then queue behind it (docs/benchmarks.md). The cost: a
# connection hashed to a worker still starting up waits for it (seconds) instead of going to one
# that is ready.
reuse_port = True
# The maintained worker package (uvicorn.workers is deprecated).
worker_class = "uvicorn_worker.UvicornWorker"

# The ALB's idle timeout is 60 s by default: a backend that closes an idle keep-alive
# connection first races the ALB reusing it, which clients see as 502s. Stay above it.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "75"))
# The arbiter kills a worker whose heartbeat is older than this. It does NOT bound start-up: a
# uvicorn worker's first heartbeat comes from its main loop, after the app's lifespan (the first
# snapshot load), and until then gunicorn compares its monotonic clock with the wall-clock
# mtime of the heartbeat file, which never looks stale (gunicorn 27, workertmp.py/arbiter.py).
# What bounds start-up: each S3 request by core.store's timeouts and retries (5 s connect, 30 s
# read, 5 attempts), and the whole by ECS, which replaces a task whose /health is not 200 by the
# end of the service's health-check grace (terraform/modules/ecs, sized from bench/bench_cloud).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# SIGTERM (ECS stopping a task): stop accepting, finish requests in flight, then exit.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))

# The app writes one JSON access/EMF line per request (api/access_log.py); gunicorn's own
# access log would duplicate it in another format.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Behind API Gateway and the ALB: trust their X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# gunicorn 27's control socket ($HOME/.gunicorn/gunicorn.ctl) is not used, would collide between
# servers on one host (tests, benchmarks) and needs a writable home the image's user lacks.
control_socket_disable = True
