// The dashboard: watches its invoices over a WebSocket and queues emails on click.
(function () {
  const rows = Array.from(document.querySelectorAll("tr[data-invoice]"));
  const ids = rows.map((row) => Number(row.dataset.invoice));
  const status = document.getElementById("status");
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/ws/billing/invoices/`);

  socket.addEventListener("open", () => socket.send(JSON.stringify({watch: ids})));
  socket.addEventListener("close", () => { status.textContent = "closed"; status.dataset.state = "closed"; });
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.watching) {
      status.textContent = "live";
      status.dataset.state = "live";
    } else if (data.invoice) {
      const cell = document.getElementById(`invoice-${data.invoice}-status`);
      if (cell) { cell.textContent = data.status; }
    }
  });

  document.querySelectorAll("button.send").forEach((button) => {
    button.addEventListener("click", () => {
      button.disabled = true;
      fetch(button.dataset.url, {method: "POST", headers: {"X-CSRFToken": csrf}})
        .then((response) => { if (!response.ok) { button.disabled = false; } });
    });
  });
})();
