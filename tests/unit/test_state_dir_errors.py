"""A state directory that cannot be written is one line naming it, not a traceback."""

import pytest

from orchestrator.errors import OrchestratorError
from orchestrator.state import StackState, StateDir


def test_a_state_dir_under_a_file_is_one_line_naming_the_setting(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    state_dir = StateDir(blocker / "state")

    with pytest.raises(OrchestratorError) as error, state_dir.locked():
        pass

    message = str(error.value)
    assert message.startswith(f"state_dir {blocker / 'state'} cannot be written (Not a directory")
    assert "ORCHESTRATOR_STATE_DIR" in message
    assert "\n" not in message


def test_saving_into_a_state_dir_that_cannot_be_written_is_one_line(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    state = StackState.__new__(StackState)

    with pytest.raises(OrchestratorError, match="cannot be written"):
        StateDir(blocker / "state").save(state)
