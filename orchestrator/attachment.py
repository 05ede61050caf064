"""A process's hold on a running stack: its services, slices and workers, under the state lock."""

from __future__ import annotations

from dataclasses import dataclass, field

from docker.errors import NotFound

from orchestrator.errors import OrchestratorError
from orchestrator.fingerprints import source_fingerprint
from orchestrator.images import ImageReport
from orchestrator.plan import StackPlan
from orchestrator.services import postgres
from orchestrator.services.base import Slice
from orchestrator.spec import ServiceSpec
from orchestrator.stack import Stack
from orchestrator.state import SliceState, StackState, StateDir

BROWSER = "browser"


@dataclass
class Attachment:
    """A process's hold on a stack: the stack, its plan, and where its state lives.

    ``mode`` says how this process got it: ``started``, ``attached`` (started by
    another process of the run) or ``kept`` (a kept-alive stack).
    """

    stack: Stack
    plan: StackPlan
    state_dir: StateDir
    mode: str
    images: dict[str, ImageReport] = field(default_factory=dict)
    seconds: float = 0.0
    headed: bool = False

    @property
    def kept(self) -> bool:
        return self.stack.kept

    def ensure_database(self) -> None:
        """Have the stack's database server running, if it has one (started on demand,
        once for the stack)."""
        name = self.plan.database_server
        if name is None or self.stack.ready(name):
            return
        self.ensure_service(name, self.plan.service_spec(name))

    def ensure_browser(self) -> None:
        """Have the stack's browser running (headed when the stack is), started once."""
        self.ensure_service(BROWSER, self.plan.browser_spec(self.headed))

    def set_headed(self, headed: bool) -> None:
        """Switch the stack's browser between headless and headed (replaces its container)."""
        if headed == self.headed:
            return
        with self.state_dir.locked():
            state = self._state()
            state.headed = headed
            state.containers.pop(BROWSER, None)
            self.state_dir.save(state)
        self.headed = headed
        self.stack.drop(BROWSER)
        self.ensure_browser()

    def ensure_service(self, name: str, spec: ServiceSpec) -> None:
        """Have a service started on demand (the browser) running, once for the stack."""
        with self.state_dir.locked():
            state = self._state()
            if name in state.containers and name not in self.stack.services():
                self._adopt(name, state.containers[name], spec)
            if name not in self.stack.services():
                self.stack.launch(spec)
                self.stack.wait_added(name)
                state.containers[name] = self.stack.container_ids()[name]
                self.state_dir.save(state)

    def ensure_slice(self, name: str) -> Slice:
        """This process's namespace on the stack, made on every server the first time."""
        with self.state_dir.locked():
            state = self._state()
            recorded = state.slices.get(name)
            if recorded is None:
                number = 1 + max((s.number for s in state.slices.values()), default=0)
                self.plan.provision(
                    [Slice(name, number)],
                    self.stack.locate,
                    self.stack.exec_in,
                    self.stack.services(),
                )
                recorded = SliceState(number)
                state.slices[name] = recorded
                self.state_dir.save(state)
        return Slice(name, recorded.number)

    def spare_database(self, slice_: Slice) -> str | None:
        """The name of the slice's spare test database when the stack is kept and the
        database role is its own PostgreSQL server, else None (see
        :func:`postgres.spare_database_name`)."""
        binding = self.plan.bindings["database"]
        if not self.kept or not binding.managed or binding.service != postgres.NAME:
            return None
        return postgres.spare_database_name(slice_)

    def make_spare_database(self, slice_: Slice) -> bool:
        """Make the slice's spare test database, if it has one; return whether it exists."""
        if self.spare_database(slice_) is None:
            return False
        server = self.plan.server(self.plan.bindings["database"], self.stack.locate)
        return postgres.make_spare_database(server, slice_)

    def ensure_worker(self, slice_: Slice) -> str:
        """The slice's worker container; returns its node name.

        A recorded worker is reused when it runs on the same database, and
        restarted when the project's source changed since it started.
        """
        recorded = self._state().slices[slice_.name]
        self._ensure_worker(slice_, recorded)
        with self.state_dir.locked():
            state = self._state()
            state.slices[slice_.name] = recorded
            self.state_dir.save(state)
        return slice_.node_name

    def _ensure_worker(self, slice_: Slice, recorded: SliceState) -> None:
        spec = self.plan.worker_spec(slice_)
        if self.plan.database_server in spec.depends_on:
            self.ensure_database()
        database = self.plan.internal_endpoints(slice_).database_url
        source = source_fingerprint(self.plan.config.path("worker.source"))
        usable = (
            recorded.worker is not None
            and recorded.database == database
            and self._adopt(spec.name, recorded.worker, spec)
            # A remote engine's worker holds a copy of the source: a new one copies it anew.
            and (self.stack.local or recorded.source == source)
        )
        if usable and recorded.source != source:
            self.stack.log(f"worker {slice_.name}: project source changed; restarting it")
            self.stack.expect_stop(spec.name)
            try:
                self.stack.container(spec.name).restart(timeout=5)
                self.stack.wait_ready_again(spec.name)
            finally:
                self.stack.expect_stop(spec.name, expected=False)
        elif not usable:
            if spec.name in self.stack.services():
                self.stack.drop(spec.name)
            self.stack.launch(spec)
            self.stack.wait_added(spec.name)
        recorded.worker = self.stack.container_ids()[spec.name]
        recorded.database = database
        recorded.source = source

    def _adopt(self, name: str, container_id: str, spec: ServiceSpec) -> bool:
        """Take a container another process started into this process's stack object."""
        if name in self.stack.services():
            return True
        try:
            container = self.stack.client.containers.get(container_id)
        except NotFound:
            return False
        if container.status != "running":
            container.remove(force=True, v=True)
            return False
        self.stack.adopt(name, container, spec)
        return True

    def _state(self) -> StackState:
        state = self.state_dir.load()
        if state is None or state.stack_id != self.stack.id:
            raise OrchestratorError(
                f"stack {self.stack.id} was stopped while this process used it "
                f"(state in {self.state_dir.path} is gone)"
            )
        return state
