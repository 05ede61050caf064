"""The TestCase flavour of the live server, driven by the container browser."""

import pytest
from chat.models import Message

from fixtures.live_server import ContainerLiveServerTestCase
from tests.integration.browser_helpers import log_in, open_room, say, wait_for_message


@pytest.mark.browser
class RoomPageTests(ContainerLiveServerTestCase):
    @pytest.fixture(autouse=True)
    def _driver(self, browser):
        self.driver = browser

    def test_message_typed_in_the_page_comes_back_and_is_saved(self):
        from django.contrib.auth.models import User

        user = User.objects.create_user("carol", password="unused-password-3")
        assert self.live_server_url.startswith("http://host.docker.internal:")
        log_in(self.driver, self.live_server_url, user)
        open_room(self.driver, self.live_server_url, "testcase")

        say(self.driver, "through a TestCase")
        wait_for_message(self.driver, "carol", "through a TestCase")

        assert Message.objects.get().body == "through a TestCase"
