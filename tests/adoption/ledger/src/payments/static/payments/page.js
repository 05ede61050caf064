// Listens for this payment's settlement and asks for it on click.
(function () {
  const body = document.body;
  const socketState = document.getElementById("socket");
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/ws/payments/${body.dataset.payment}/`);
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.watching) {
      socketState.textContent = "live";
      socketState.dataset.state = "live";
    } else {
      document.getElementById("state").textContent = data.summary;
      document.getElementById("by").textContent = data.by;
    }
  });
  document.getElementById("settle").addEventListener("click", () => {
    const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
    fetch(body.dataset.settleUrl, {method: "POST", headers: {"X-CSRFToken": csrf}});
  });
})();
