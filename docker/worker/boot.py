"""Start the project's Celery worker on the stack, as soon as its broker accepts connections.

The worker runs the project's own Django settings (the tests' settings unless the
project names others); stackyard's mapping of the stack's endpoints to settings
comes as JSON in STACKYARD_DJANGO_SETTINGS and is applied before Django starts,
and Celery's own CELERY_BROKER_URL / CELERY_RESULT_BACKEND variables win over any
setting. So the project writes no settings module for the worker.

The container is started together with the stack's servers: importing Django and
the project's tasks (the slow part) happens while the broker is still booting, then
the broker (RabbitMQ's vhost, or Redis's database) is tried every 50 ms instead of
Celery's 2 s reconnect steps (a vhost may be created a moment after the broker is up).

The app also gets pytest-celery's built-in worker tasks (``ping``, ``identity``, ...)
under pytest-celery's names, so that tests in its style run on the project's worker.

Environment: CELERY_APP (``package.module`` or ``package.module:app``),
CELERY_BROKER_URL, STACKYARD_DJANGO_SETTINGS, optional STACKYARD_BROKER_WAIT
(seconds, default 120). Arguments are passed to ``celery worker``.
"""

import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterable

POLL_INTERVAL = 0.05
# What the container's engine or a person sends the first process, passed on to the worker.
FORWARDED_SIGNALS = (
    signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
)  # fmt: skip
# The module pytest-celery 1.x defines its worker's tasks in: their names start with it.
PYTEST_CELERY_TASKS = "pytest_celery.vendors.worker.tasks"


def load_app(spec: str):
    module_name, _, attribute = spec.partition(":")
    module = importlib.import_module(module_name)
    if attribute:
        return getattr(module, attribute)
    for name in ("app", "celery_app", "celery"):
        candidate = getattr(module, name, None)
        if hasattr(candidate, "worker_main"):  # a Celery app, not a submodule
            return candidate
    raise SystemExit(f"boot.py: CELERY_APP={spec!r}: no app, celery or celery_app attribute")


def wait_for_broker(url: str, timeout: float) -> None:
    """Poll until the broker accepts the worker: for AMQP, a login to the URL's vhost
    (each test process gets its own, maybe made only after the broker is up, so an
    open port is not enough); for Redis, an authenticated PING on the URL's database.
    Through kombu, the transport the worker itself uses."""
    from kombu import Connection

    deadline = time.monotonic() + timeout
    while True:
        connection = Connection(url, connect_timeout=1, transport_options={"max_retries": 0})
        try:
            connection.connect()
            channel = connection.default_channel
            client = getattr(channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()  # Redis: connect() alone does not authenticate
            return
        except Exception as error:  # any transport's connection or access error
            if time.monotonic() > deadline:
                where = url.rpartition("@")[2]
                raise SystemExit(
                    f"boot.py: the broker {where} did not accept the worker after {timeout}s: "
                    f"{type(error).__name__}: {error}"
                ) from None
            time.sleep(POLL_INTERVAL)
        finally:
            connection.release()


def register_pytest_celery_tasks(app) -> None:
    """Register pytest-celery's built-in worker tasks on the app, by pytest-celery's names.

    Its tests send them (``from pytest_celery import ping``, ``CeleryTestSetup.ready(ping=True)``)
    to a worker made from its own image; here the worker is the project's, and its image
    holds only the project's dependencies, so these are stackyard's copies of pytest-celery
    1.x's tasks: same names, arguments and results. A task the app already has stays its own
    (looking it up finalizes the app, as the worker's start would).
    """

    def task(**options):
        def register(function):
            name = f"{PYTEST_CELERY_TASKS}.{function.__name__}"
            if name in app.tasks:  # pytest-celery's own, imported by the project
                return app.tasks[name]
            return app.task(name=name, shared=False, **options)(function)

        return register

    @task()
    def add(x, y, z=None):
        return x + y + z if z else x + y

    @task(bind=True)
    def add_replaced(self, x, y, z=None, *, queue=None):
        raise self.replace(add.s(x, y, z).set(queue=queue or "celery"))

    @task()
    def fail(*args):
        raise RuntimeError(("Task expected to fail", *args))

    @task()
    def identity(x):
        return x

    @task()
    def noop(*args, **kwargs):
        return None

    @task()
    def ping():
        return "pong"

    @task()
    def sleep(seconds=1, **kwargs):
        time.sleep(seconds, **kwargs)
        return True

    @task()
    def xsum(nums):
        return sum(sum(num) if isinstance(num, Iterable) else num for num in nums)


def setup_django() -> None:
    """Django with the project's settings and the stack's endpoints applied over them."""
    import django
    from django.conf import settings

    overrides = json.loads(os.environ.get("STACKYARD_DJANGO_SETTINGS", "{}"))
    for name, value in overrides.items():
        if name == "DATABASES":  # the stack's default database; the project's others stay
            value = {**getattr(settings, "DATABASES", {}), **value}
        setattr(settings, name, value)
    django.setup()


def reap_as_first_process() -> None:
    """As the container's first process, stay behind as its reaper and run the worker in a
    child.

    Processes whose parent ended are handed to the first process; one that never waits
    for them (Celery does not) keeps each as a zombie holding a pid, until the container's
    process limit refuses the worker its next fork: a task that runs a tool which leaves
    helpers behind (headless Chromium for a PDF, a killed shell pipeline) gets there after
    a few hundred calls. So this process waits for every child, passes the signals above
    on to the worker, and exits as the worker did (128 + the signal that ended it).
    """
    if os.getpid() != 1:
        return
    # Held back until this process forwards them: none is lost between fork and handlers.
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    worker = os.fork()
    if worker == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        return
    for number in FORWARDED_SIGNALS:
        signal.signal(number, lambda received, frame: os.kill(worker, received))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
    while True:
        pid, status = os.wait()
        if pid == worker:
            code = os.waitstatus_to_exitcode(status)
            os._exit(128 - code if code < 0 else code)


def main() -> None:
    reap_as_first_process()
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        setup_django()
    app = load_app(os.environ["CELERY_APP"])
    # Whatever namespace the app reads its configuration from: this process is the worker.
    app.conf.task_always_eager = False
    app.loader.import_default_modules()
    register_pytest_celery_tasks(app)
    wait_for_broker(
        os.environ["CELERY_BROKER_URL"],
        float(os.environ.get("STACKYARD_BROKER_WAIT", "120")),
    )
    app.worker_main(["worker", *sys.argv[1:]])


if __name__ == "__main__":
    main()
