// The checkout page (/pay/{id}): the countdown, a status that updates itself, and the copy
// buttons of the transfer details. Its facts come from #checkout-state (the page's CSP allows
// scripts from this service only, none inline).
(function () {
  var state = document.getElementById("checkout-state");
  var paymentId = state.dataset.paymentId;
  var expiresAt = new Date(state.dataset.expiresAt).getTime();
  var skew = new Date(state.dataset.serverNow).getTime() - Date.now();
  var pollMs = parseInt(state.dataset.pollMs, 10);
  var labels = JSON.parse(state.dataset.labels);
  var messages = {
    paid: "Đã thanh toán thành công. Cảm ơn bạn!",
    expired: "Khoản thanh toán đã hết hạn. Vui lòng tạo lại yêu cầu thanh toán trên Cổng Dịch vụ công.",
    cancelled: "Khoản thanh toán đã bị hủy."
  };
  var status = state.dataset.status;
  var statusEl = document.getElementById("status");

  function showReceipts(receipts) {
    var box = document.getElementById("receipts");
    if (!receipts || !receipts.length) return;
    box.textContent = "";
    receipts.forEach(function (r) {
      var line = document.createElement("p");
      line.className = "receipt-line";
      line.setAttribute("data-testid", "receipt-line");
      line.appendChild(document.createTextNode("Biên lai điện tử "));
      if (r.number) {
        line.appendChild(document.createTextNode("ký hiệu "));
        var symbol = document.createElement("strong");
        symbol.setAttribute("data-testid", "receipt-symbol");
        symbol.textContent = r.symbol;
        line.appendChild(symbol);
        line.appendChild(document.createTextNode(" số "));
        var number = document.createElement("strong");
        number.setAttribute("data-testid", "receipt-number");
        number.textContent = r.number;
        line.appendChild(number);
        line.appendChild(document.createTextNode(", lập lúc " + r.issued_at));
      } else {
        line.appendChild(document.createTextNode("đang chờ cấp số"));
      }
      line.appendChild(document.createTextNode(" · " + r.channel + " · " + r.amount + " · "));
      var link = document.createElement("a");
      link.href = r.url;
      link.setAttribute("data-testid", "receipt-link");
      link.textContent = "Xem biên lai";
      line.appendChild(link);
      box.appendChild(line);
    });
  }

  function show(newStatus) {
    if (newStatus === "needs_review") {
      // What was received and whom to contact are told by the server: load them.
      window.location.reload();
      return;
    }
    status = newStatus;
    statusEl.textContent = labels[newStatus] || newStatus;
    statusEl.className = "status " + newStatus;
    var pending = newStatus === "pending";
    document.getElementById("pay-box").classList.toggle("hidden", !pending);
    document.getElementById("countdown-line").classList.toggle("hidden", !pending);
    document.getElementById("done-box").className = "card result " + newStatus + (pending ? " hidden" : "");
    document.getElementById("done-message").textContent = messages[newStatus] || (labels[newStatus] + ".");
  }

  function tick() {
    if (status !== "pending") return;
    var left = Math.max(0, Math.floor((expiresAt - (Date.now() + skew)) / 1000));
    var m = Math.floor(left / 60), s = left % 60;
    document.getElementById("countdown").textContent = (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function poll() {
    fetch("/pay/" + paymentId + "/status", {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.status !== status) { show(data.status); showReceipts(data.receipts); }
      })
      .catch(function () {})
      .finally(function () { if (status === "pending") setTimeout(poll, pollMs); });
  }

  // Copy buttons: the value in data-copy goes to the clipboard; the button says it did.
  function copied(button, ok) {
    button.textContent = ok ? "Đã sao chép" : "Hãy chép thủ công";
    button.classList.toggle("done", ok);
    setTimeout(function () {
      button.textContent = "Sao chép";
      button.classList.remove("done");
    }, 2000);
  }

  function copyByHand(text) {
    // Browsers without the Clipboard API (or outside a secure context): a selected field.
    var field = document.createElement("textarea");
    field.value = text;
    field.setAttribute("readonly", "");
    field.className = "offscreen";
    document.body.appendChild(field);
    field.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(field);
    return ok;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var text = button.dataset.copy;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, copyByHand(text)); }
      );
    } else {
      copied(button, copyByHand(text));
    }
  });

  tick();
  setInterval(tick, 1000);
  if (status === "pending") setTimeout(poll, pollMs);
})();
