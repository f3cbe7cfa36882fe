// Paddle.js overlay checkout for the account page and the upgrade prompts.
//
// The page carries what Paddle.js needs in data attributes on [data-paddle-checkout]
// (web/templates/account/_checkout.html): the client-side token and environment, the user's
// e-mail and id, and one button per named plan with its price id. Paddle.js comes through the
// npm loader `@paddle/paddle-js` (vendored by `make assets` at data-module-url), which injects
// https://cdn.paddle.com/paddle/v2/paddle.js; without the vendored file the same script is
// injected here. `checkout.completed` only navigates to the success page, which waits for the
// signed webhook: the browser's event proves nothing and provisions nothing.
//
// The same root serves Paddle's payment-method update (account/_payment_method.html): a button
// with data-transaction-id opens `Checkout.open({transactionId})`, the transaction the API
// answered for it, at once when the root says data-auto-open; completion goes back to the
// account (the root's data-success-url).
(function () {
  "use strict";
  if (window.edgelabCheckout) return; // included once per upgrade prompt: one handler
  var CDN = "https://cdn.paddle.com/paddle/v2/paddle.js";
  var loading = null;
  var current = null; // the root whose checkout is open (its success URL is where we go)

  function config() {
    return current || document.querySelector("[data-paddle-checkout]");
  }

  function say(root, text) {
    var box = root && root.querySelector("[data-checkout-message]");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  function onEvent(event) {
    var root = config();
    if (!event || !event.name) return;
    if (event.name === "checkout.completed") {
      // no provisioning here: the success page waits for Paddle's webhook
      window.location.assign((root && root.dataset.successUrl) || "/app/account/upgraded");
    } else if (event.name === "checkout.error" || event.name === "checkout.failed") {
      say(root, "Checkout failed: " + (event.detail || event.code || "please try again."));
    }
  }

  function fromCdn() {
    return new Promise(function (resolve, reject) {
      if (window.Paddle) return resolve(window.Paddle);
      // a fresh element each time: one that failed before has fired its events already, and
      // waiting on it again would never settle (the button would stay disabled)
      var old = document.querySelector('script[src="' + CDN + '"]');
      if (old) old.remove();
      var script = document.createElement("script");
      script.src = CDN;
      script.addEventListener("load", function () {
        window.Paddle ? resolve(window.Paddle) : reject(new Error("Paddle.js not available"));
      });
      script.addEventListener("error", function () {
        script.remove();
        reject(new Error("Paddle.js could not be loaded"));
      });
      document.head.appendChild(script);
    }).then(function (paddle) {
      var root = config();
      paddle.Environment.set(root.dataset.environment);
      paddle.Initialize({ token: root.dataset.clientToken, eventCallback: onEvent });
      return paddle;
    });
  }

  // Paddle.js, initialised once with the page's token and environment.
  function paddle() {
    if (loading) return loading;
    var root = config();
    var module = root.dataset.moduleUrl;
    loading = (
      module
        ? import(module).then(function (m) {
            return m.initializePaddle({
              environment: root.dataset.environment,
              token: root.dataset.clientToken,
              eventCallback: onEvent,
            });
          }, fromCdn)
        : fromCdn()
    ).then(function (instance) {
      if (!instance) throw new Error("Paddle.js not available");
      return instance;
    });
    loading.catch(function () {
      loading = null; // a later click tries again
    });
    return loading;
  }

  function options(button, root) {
    var settings = { displayMode: "overlay", theme: "light", allowLogout: false };
    if (button.dataset.transactionId) {
      // Paddle's payment-method update: the transaction carries customer and subscription
      return { transactionId: button.dataset.transactionId, settings: settings };
    }
    return {
      items: [{ priceId: button.dataset.priceId, quantity: 1 }],
      customer: { email: root.dataset.email },
      customData: { user_id: root.dataset.userId },
      settings: settings,
    };
  }

  function open(button) {
    var root = button.closest("[data-paddle-checkout]") || config();
    current = root;
    say(root, "");
    button.disabled = true;
    paddle()
      .then(function (instance) {
        instance.Checkout.open(options(button, root));
      })
      .catch(function (err) {
        say(root, "Checkout could not start (" + err.message + "). Please try again.");
      })
      .then(function () {
        button.disabled = false;
      });
  }

  document.addEventListener("click", function (event) {
    var button =
      event.target.closest &&
      event.target.closest("[data-paddle-checkout] [data-price-id], [data-paddle-checkout] [data-transaction-id]");
    if (!button) return;
    event.preventDefault();
    open(button);
  });

  window.edgelabCheckout = { open: open, paddle: paddle };
  // load Paddle.js early so the overlay opens at once (Paddle recommends initialising on load)
  var first = document.querySelector("[data-paddle-checkout]");
  if (first) paddle().catch(function () {});
  var auto = document.querySelector("[data-paddle-checkout][data-auto-open] [data-transaction-id]");
  if (auto) open(auto);
})();
