// Announcements: compose page helpers (msgtype fields, audience picker, live
// preview, next run times, estimate) and the detail page's progress polling.
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) { return Array.from((root || document).querySelectorAll(selector)); }
  function checkedValue(name) {
    var input = $('input[name="' + name + '"]:checked');
    return input ? input.value : "";
  }
  function fieldValue(name) {
    var input = $('[name="' + name + '"]');
    return input ? input.value.trim() : "";
  }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  // Confirmation for pause / resume / cancel / retry: static/botadmin/confirm.js.

  var compose = $("#compose");
  if (compose) setUpCompose(compose);
  var runs = $("#runs");
  if (runs) pollRuns(runs);

  function setUpCompose(form) {
    // Only the chosen msgtype's fields are shown.
    function showMsgtype() {
      var msgtype = checkedValue("msgtype");
      $$(".msgfields").forEach(function (set) { set.hidden = set.dataset.msgtype !== msgtype; });
      renderPreview();
    }
    // Only the chosen schedule kind's fields are shown.
    function showKind() {
      var kind = checkedValue("kind");
      $$("[data-kinds]").forEach(function (field) {
        field.hidden = field.dataset.kinds.split(" ").indexOf(kind) < 0;
      });
      refreshSchedule();
    }

    // Whether the chosen msgtype's fields are all empty (nothing typed, no file chosen).
    function messageIsEmpty(msgtype) {
      var set = $('.msgfields[data-msgtype="' + msgtype + '"]');
      if (!set) return true;
      return $$("input, textarea", set).every(function (input) {
        if (input.type === "file") return !(input.files && input.files.length);
        if (input.type === "checkbox" || input.type === "radio" || input.type === "hidden") return true;
        return !input.value.trim();
      });
    }

    function renderPreview() {
      var msgtype = checkedValue("msgtype");
      var bubble = $("#preview");
      bubble.replaceChildren();
      // An empty message: a muted hint, not an empty white box that looks like a field.
      var empty = messageIsEmpty(msgtype);
      bubble.classList.toggle("empty", empty);
      if (empty) return bubble.appendChild(el("p", "muted", bubble.dataset.empty));
      var value = function (key) { return fieldValue(msgtype + "__" + key); };
      if (msgtype === "text" || msgtype === "markdown" || msgtype === "markdown_v2") {
        bubble.appendChild(el("p", "pre", value("content")));
        var mentions = value("mentioned_list");
        if (msgtype === "text" && mentions) {
          bubble.appendChild(el("p", "mentions", mentions.split(",").map(function (m) { return "@" + m.trim(); }).join(" ")));
        }
      } else if (msgtype === "image") {
        var upload = $('input[name="image_file"]');
        var img = el("img", "image");
        if (upload && upload.files && upload.files[0]) img.src = URL.createObjectURL(upload.files[0]);
        else img.src = value("url");
        bubble.appendChild(img);
      } else {
        var card = el("div", "card");
        var title = value("title");
        if (msgtype === "miniprogram") card.appendChild(el("p", "small muted", value("appname")));
        card.appendChild(el("strong", "", title));
        card.appendChild(el("p", "muted small", value("desc") || value("description") || value("page_path")));
        var picture = value("image_url") || value("picurl");
        if (picture) { var pic = el("img"); pic.src = picture; card.appendChild(pic); }
        if (value("url")) card.appendChild(el("p", "small", value("url")));
        bubble.appendChild(card);
      }
    }

    // Audience picker: search, kind filter, select all, saved audiences.
    var items = $$("#audience li[data-kind]");
    function applyFilter() {
      var query = $("#audience-search").value.trim().toLowerCase();
      var kind = $("#audience-kind").value;
      items.forEach(function (item) {
        item.hidden = (kind && item.dataset.kind !== kind) || (query && item.dataset.search.indexOf(query) < 0);
      });
    }
    function selected() { return $$('#audience input[name="conversations"]:checked').length; }
    function refreshCount() {
      $("#selected-count").textContent = "(" + selected() + ")";
      refreshEstimate();
    }
    function refreshEstimate() {
      var estimate = $("#estimate");
      var rate = parseInt(form.dataset.rate, 10) || 20;
      var n = selected();
      // As console/views/announcements.py about(): seconds under a minute.
      var seconds = Math.ceil(n * 60 / rate);
      var about = seconds < 60
        ? estimate.dataset.seconds.replace("{s}", seconds)
        : estimate.dataset.minutes.replace("{m}", Math.ceil(seconds / 60));
      estimate.textContent = n ? estimate.dataset.template.replace("{n}", n).replace("{rate}", rate).replace("{about}", about) : "";
    }
    $("#audience-search").addEventListener("input", applyFilter);
    $("#audience-kind").addEventListener("change", applyFilter);
    $$("[data-select]").forEach(function (button) {
      button.addEventListener("click", function () {
        var mode = button.dataset.select;
        items.forEach(function (item) {
          var box = $("input", item);
          if (mode === "none") box.checked = false;
          else if (mode === "shown") { if (!item.hidden) box.checked = true; }
          else if (item.dataset.kind === mode) box.checked = true;
        });
        refreshCount();
      });
    });
    var saved = JSON.parse($("#saved-audiences").textContent || "{}");
    var savedSelect = $('select[name="saved_audience"]');
    if (savedSelect) savedSelect.addEventListener("change", function () {
      var ids = saved[savedSelect.value];
      if (!ids) return;
      items.forEach(function (item) {
        var box = $("input", item);
        box.checked = ids.indexOf(parseInt(box.value, 10)) >= 0;
      });
      refreshCount();
    });
    $("#audience").addEventListener("change", refreshCount);

    // The next five run times come from the server, which owns the rules.
    var timer = null;
    function refreshSchedule() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var params = new URLSearchParams();
        params.set("kind", checkedValue("kind"));
        ["at", "time", "month_day", "cron", "until", "timezone"].forEach(function (name) {
          var value = fieldValue(name);
          if (value) params.set(name, value);
        });
        $$('input[name="weekdays"]:checked').forEach(function (box) { params.append("weekdays", box.value); });
        fetch(form.dataset.previewUrl + "?" + params.toString(), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (data) {
            var list = $("#next-runs");
            list.replaceChildren();
            data.times.forEach(function (time) { list.appendChild(el("li", "", time)); });
            $("#next-runs-tz").textContent = data.timezone || "";
            $("#next-runs-error").textContent = data.error || "";
          });
      }, 200);
    }

    $$('input[name="msgtype"]').forEach(function (input) { input.addEventListener("change", showMsgtype); });
    $$('input[name="kind"]').forEach(function (input) { input.addEventListener("change", showKind); });
    $$(".msgfields input, .msgfields textarea").forEach(function (input) { input.addEventListener("input", renderPreview); });
    $$(".when-fields input, .when-fields select").forEach(function (input) {
      input.addEventListener("input", refreshSchedule);
      input.addEventListener("change", refreshSchedule);
    });
    if (!checkedValue("msgtype")) { var first = $('input[name="msgtype"]'); if (first) first.checked = true; }
    showMsgtype();
    showKind();
    refreshCount();
  }

  // Detail page: refresh the runs while something is still pending.
  function pollRuns(container) {
    if (container.dataset.sending !== "1") return;
    setTimeout(function () {
      var url = new URL(window.location.href);
      url.searchParams.set("partial", "runs");
      fetch(url, { credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector("#runs");
          if (!fresh) return;
          container.replaceWith(fresh);
          // The header too: a finished run changes the status and the actions that apply.
          var head = holder.querySelector("#announcement-head");
          var shown = $("#announcement-head");
          if (head && shown) shown.replaceWith(head);
          pollRuns(fresh);
        })
        .catch(function () { pollRuns(container); });
    }, 2000);
  }
})();
