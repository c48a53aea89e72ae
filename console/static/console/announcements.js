// Announcements: compose page helpers (msgtype fields, live preview, next run times,
// the question before sending) and the detail page's progress polling. The compose
// page's recipients picker and estimate are in audience-picker.js, loaded before this.
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
    // Only the chosen schedule kind's fields are shown, and the button says what it does.
    function showKind() {
      var kind = checkedValue("kind");
      $$("[data-kinds]").forEach(function (field) {
        field.hidden = field.dataset.kinds.split(" ").indexOf(kind) < 0;
      });
      var submit = $("#submit-schedule");
      if (submit) submit.textContent = kind === "now" ? submit.dataset.now : submit.dataset.later;
      refreshSchedule();
      audience.refreshEstimate();
    }

    // Whether the chosen msgtype's fields are all empty (nothing typed, no file chosen).
    function messageIsEmpty(msgtype) {
      var set = $('.msgfields[data-msgtype="' + msgtype + '"]');
      if (!set) return true;
      return $$("input, textarea", set).every(function (input) {
        if (input.type === "file") return !(input.files && input.files.length);
        if (input.name === "staged_image") return !input.value;
        if (input.type === "checkbox" || input.type === "radio" || input.type === "hidden") return true;
        return !input.value.trim();
      });
    }

    // Markdown is drawn by the server, with the renderer of the conversation history
    // (console/markdown.py), a moment after the typing stops. Only the answer to the
    // latest request is shown.
    var markdownAsked = 0;
    var markdownTimer = null;
    function renderMarkdown(bubble, msgtype) {
      var asked = ++markdownAsked;
      var content = $('[name="' + msgtype + '__content"]').value;
      clearTimeout(markdownTimer);
      markdownTimer = setTimeout(function () {
        var data = new FormData();
        data.set("csrfmiddlewaretoken", fieldValue("csrfmiddlewaretoken"));
        data.set("msgtype", msgtype);
        data.set("content", content);
        data.set("bot", fieldValue("bot"));  // names the <@userid> mentions it knows
        fetch(form.dataset.markdownPreviewUrl, { method: "POST", body: data, credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.text() : Promise.reject(response); })
          .then(function (html) {
            if (asked !== markdownAsked) return;
            var drawn = el("div", "markdown");
            drawn.innerHTML = html;  // the server's rendering: escaped text and its own few tags
            bubble.replaceChildren(drawn);
          })
          .catch(function () {
            // Not drawn (too long for any bot, or the server away): the text as typed.
            if (asked === markdownAsked) bubble.replaceChildren(el("p", "pre", content));
          });
      }, 150);
    }

    // A picture on another site, named by its host and never loaded, as the history and
    // the announcement's page show it (console/_remote_picture.html, the CSP's img-src).
    function remotePicture(bubble, url, link) {
      var host = url;
      try { host = new URL(url).hostname || url; } catch (error) { /* not a URL: as typed */ }
      var node = el(link ? "a" : "span", "remote-picture", bubble.dataset.remotePicture.replace("%(host)s", host));
      node.title = url;
      if (link && /^https?:\/\//i.test(url)) {
        node.href = url;
        node.target = "_blank";
        node.rel = "noopener noreferrer";
      }
      return node;
    }

    // A mentioned user ID as its contact's name (the field's suggestions know the bot's
    // synced contacts), else as typed.
    function contactName(entry) {
      var found = $$("#mention-contacts option").find(function (option) { return option.dataset.id === entry; });
      return (found && found.label) || entry;
    }

    function renderPreview() {
      var msgtype = checkedValue("msgtype");
      var bubble = $("#preview");
      markdownAsked += 1;  // an answer still on its way is for an older message
      // An empty message: a muted hint, not an empty white box that looks like a field.
      var empty = messageIsEmpty(msgtype);
      bubble.classList.toggle("empty", empty);
      if (msgtype === "markdown" || msgtype === "markdown_v2") {
        // The previous drawing stays until the new one comes, instead of flashing the source.
        if (empty || !$(".markdown", bubble)) bubble.replaceChildren();
        if (empty) return bubble.appendChild(el("p", "muted", bubble.dataset.empty));
        return renderMarkdown(bubble, msgtype);
      }
      bubble.replaceChildren();
      if (empty) return bubble.appendChild(el("p", "muted", bubble.dataset.empty));
      var value = function (key) { return fieldValue(msgtype + "__" + key); };
      if (msgtype === "text") {
        bubble.appendChild(el("p", "pre", value("content")));
        var mentions = value("mentioned_list");
        if (msgtype === "text" && mentions) {
          // As announcements/mentions.py reads them: "@ALL" is "@all", a leading "@" is not doubled;
          // a contact's ID shows as its name, as the announcement's page shows it.
          var names = mentions.split(/[,，、\n]/).map(function (m) { return m.trim().replace(/^@+/, ""); })
            .filter(Boolean).map(function (m) { return "@" + (m.toLowerCase() === "all" ? "all" : contactName(m)); });
          bubble.appendChild(el("p", "mentions", names.join(" ")));
        }
      } else if (msgtype === "image") {
        var upload = $('input[name="image_file"]');
        var staged = $('input[name="staged_image"]');
        if (upload && upload.files && upload.files[0]) {
          var img = el("img", "image");
          img.src = URL.createObjectURL(upload.files[0]);
          bubble.appendChild(img);
        } else if (staged && staged.value && staged.dataset.url) {
          var kept = el("img", "image");
          kept.src = staged.dataset.url;  // uploaded with an earlier post of the page, kept
          bubble.appendChild(kept);
        } else if (value("url")) {
          bubble.appendChild(remotePicture(bubble, value("url"), true));
        }
      } else {
        var card = el("div", "card");
        var title = value("title");
        if (msgtype === "miniprogram") card.appendChild(el("p", "small muted", value("appname")));
        card.appendChild(el("strong", "", title));
        card.appendChild(el("p", "muted small", value("desc") || value("description") || value("page_path")));
        var picture = value("image_url") || value("picurl");
        if (picture) card.appendChild(remotePicture(bubble, picture, false));
        if (value("url")) card.appendChild(el("p", "small", value("url")));
        bubble.appendChild(card);
      }
    }

    // The recipients, and the estimate that counts them: audience-picker.js.
    var audience = window.audiencePicker.setUp(form, {
      $: $, $$: $$, checkedValue: checkedValue, fieldValue: fieldValue,
    });

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
            var skipped = $("#next-runs-skipped");
            $("span", skipped).textContent = data.skipped_months || "";
            skipped.hidden = !data.skipped_months;
            // "Now" has no run times to list, and an empty list under its heading
            // reads as broken: the box shows only with times or an error.
            $("#next-runs-box").hidden =
              checkedValue("kind") === "now" || !(data.times.length || data.error);
          });
      }, 200);
    }
    // A day some months lack: one click turns it into the last day of every month.
    $("#use-last-day").addEventListener("click", function () {
      var day = $('[name="month_day"]');
      day.value = "last";
      day.dispatchEvent(new Event("change"));
    });

    // The @mentions field lists IDs separated by commas; its suggestions (the bot's contacts)
    // complete the entry after the last comma, keeping those before it.
    var mentionField = $('[name="text__mentioned_list"]');
    if (mentionField) {
      mentionField.addEventListener("input", function () {
        var cut = Math.max(mentionField.value.lastIndexOf(","), mentionField.value.lastIndexOf("，"), mentionField.value.lastIndexOf("、"));
        var before = cut < 0 ? "" : mentionField.value.slice(0, cut + 1).replace(/\s*$/, " ");
        $$("#mention-contacts option").forEach(function (option) { option.value = before + option.dataset.id; });
      });
    }
    $$('input[name="msgtype"]').forEach(function (input) { input.addEventListener("change", showMsgtype); });
    $$('input[name="kind"]').forEach(function (input) { input.addEventListener("change", showKind); });
    $$(".msgfields input, .msgfields textarea").forEach(function (input) { input.addEventListener("input", renderPreview); });
    $$(".when-fields input, .when-fields select").forEach(function (input) {
      input.addEventListener("input", refreshSchedule);
      input.addEventListener("change", refreshSchedule);
    });
    // "Send now" and "Schedule" ask first, in the server's words (console/send_questions.py:
    // the recipients, when, and a recurring schedule): the form is posted with ask=1 for the
    // question, and once answered yes it is sent with the question answered, which the
    // server checks (a question that changed meanwhile is asked again on the page). A form
    // sent once is not sent again: a second click or Enter does nothing.
    var confirmed = $("#send-confirmed");
    var asking = false;
    var answered = false;
    var sent = false;
    function askThenSend(button) {
      asking = true;
      var data = new FormData(form);
      data.set(button.name, button.value);
      data.set("ask", "1");
      fetch(form.action, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response); })
        .then(function (answer) {
          // No question: the form has errors to show, or it was saved before; the server says so.
          if (answer.question && !window.confirm(answer.question)) { asking = false; return; }
          confirmed.value = answer.question || "";
          answered = true;
          form.requestSubmit(button);
        })
        .catch(function () {
          // Not asked here: the server asks on the page instead of saving.
          answered = true;
          form.requestSubmit(button);
        });
    }
    form.addEventListener("submit", function (event) {
      if (sent || asking && !answered) { event.preventDefault(); return; }
      if (event.submitter && event.submitter.id === "submit-schedule" && !answered) {
        event.preventDefault();
        askThenSend(event.submitter);
        return;
      }
      sent = true;
    });
    // Back to this page from the next one (the browser's page cache): it may be sent again,
    // and the server says so if it already made its announcement.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      asking = answered = sent = false;
      confirmed.value = "";
    });

    if (!checkedValue("msgtype")) { var first = $('input[name="msgtype"]'); if (first) first.checked = true; }
    showMsgtype();
    showKind();
    audience.showMode();
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
