// Announcements: the compose page's recipients picker (the audience: search, kind, saved
// audiences, "Select all shown", "Select all N matching", the counts) and the send
// estimate, which counts them. Loaded before announcements.js, which sets it up with its
// form and its page helpers, and calls what setUp returns when the kind changes and to
// show the picker first.
(function () {
  "use strict";

  window.audiencePicker = { setUp: setUp };

  function setUp(form, page) {
    var $ = page.$;
    var $$ = page.$$;
    var checkedValue = page.checkedValue;
    var fieldValue = page.fieldValue;

    // Audience picker. The list is one page of the server's matches at a time (htmx:
    // console/views/announcement_audience.py audience_results). The chosen conversations are a
    // base list (the announcement edited or duplicated, or a saved audience) with the
    // ids checked and unchecked here, posted as two comma-separated fields: one field
    // per conversation would pass Django's 1,000-field limit (announcements/audience.py).
    var picker = $("#audience-picker");
    var list = $("#audience");
    var baseField = $("#id_audience_base");
    var addedField = $("#id_conversations");
    var removedField = $("#id_removed");
    function idSet(field) { return new Set(field.value.split(",").filter(Boolean)); }
    var added = idSet(addedField);
    var removed = idSet(removedField);
    // Exact as long as each box shows the server's answer: a check adds one, an uncheck takes one.
    var chosenCount = parseInt(picker.dataset.count, 10) || 0;
    function mode() { return checkedValue("audience") || "listed"; }
    function counter(choice) { return $('[data-count-of="' + choice + '"]'); }
    function setCounter(choice, n) {
      var node = counter(choice);
      if (!node) return;
      node.dataset.n = n;
      node.textContent = n === "" ? "" : "(" + n + ")";
    }
    function selected() { return parseInt(counter(mode()).dataset.n, 10) || 0; }
    function refreshCount() {
      setCounter("listed", chosenCount);
      $("#selected-count").textContent = "(" + selected() + ")";
      refreshEstimate();
    }
    // Said by the server (console/views/announcement_previews.py estimate_words), as the
    // announcement's page says it: behind the bot's backlog only when sent now.
    var estimateTimer = null;
    function refreshEstimate() {
      clearTimeout(estimateTimer);
      estimateTimer = setTimeout(function () {
        var params = new URLSearchParams({
          bot: fieldValue("bot"), n: selected(), kind: checkedValue("kind") || "now",
        });
        fetch(form.dataset.estimateUrl + "?" + params.toString(), { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.json() : Promise.reject(response); })
          .then(function (data) { $("#estimate").textContent = data.text; })
          .catch(function () { $("#estimate").textContent = ""; });
      }, 150);
    }
    function showMode() {
      var listed = mode() === "listed";
      $$('[data-audience="listed"]').forEach(function (node) { node.hidden = !listed; });
      $('[data-note="listed"]').hidden = !listed;
      $('[data-note="rule"]').hidden = listed;
      refreshCount();
    }
    // "Select all N matching": offered once the rows shown are selected and more match
    // than are loaded; chosen by the server (announcements/audience.py select_all_matching).
    var offer = $("#select-matching");
    var offerButton = $("#select-matching-button");
    var offerStatus = $("#select-matching-status");
    function hideOffer() {
      offerButton.hidden = true;
      offerStatus.textContent = "";
    }
    function refreshList() { hideOffer(); htmx.trigger(list, "refresh"); }
    // The selection is every conversation matching the search and kind shown ("Select all
    // N matching" was pressed for them): each row loaded is chosen unless unchecked since,
    // and there is nothing more to offer.
    function allMatchingShown() {
      return baseField.value === "search:" + fieldValue("audience_kind") + ":" + fieldValue("audience_query").trim();
    }
    function selectAllMatching() {
      var params = new URLSearchParams();
      ["csrfmiddlewaretoken", "bot", "audience_query", "audience_kind", "audience_base"].forEach(function (name) {
        params.append(name, fieldValue(name));
      });
      params.append("conversations", addedField.value);
      params.append("removed", removedField.value);
      offerButton.disabled = true;
      fetch(offer.dataset.url, { method: "POST", body: params, credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (answer.error) { offerStatus.textContent = answer.error; return; }
          baseField.value = answer.audience_base;
          addedField.value = answer.conversations;
          added = idSet(addedField);
          removed.clear();
          writeFields();
          chosenCount = answer.count;
          refreshCount();
          refreshList();
          offerStatus.textContent = answer.status;
          // The selection is a search now, not the saved audience it started from: the
          // announcement is no longer saved as that audience's (views/announcement_compose.py).
          if (savedSelect.value) {
            savedSelect.value = "";
            // Chinese sentences follow one another without a space.
            var gap = /[。！？]$/.test(offerStatus.textContent) ? "" : " ";
            offerStatus.textContent += gap + offer.dataset.unlinkedNote;
          }
          // The button pressed is hidden now: the keyboard goes on from its neighbour (not
          // "Clear", which a second Enter would press).
          $("[data-select=\"shown\"]").focus();
        })
        .catch(function () { offerStatus.textContent = ""; })
        .finally(function () { offerButton.disabled = false; });
    }
    offerButton.addEventListener("click", selectAllMatching);
    // Another search or kind lists other conversations: the offer was for the last one.
    $("#audience-search").addEventListener("input", hideOffer);
    $("#audience-kind").addEventListener("change", hideOffer);
    function writeFields() {
      addedField.value = Array.from(added).join(",");
      removedField.value = Array.from(removed).join(",");
    }
    function toggled(box) {
      if (box.checked) { added.add(box.value); removed.delete(box.value); chosenCount += 1; }
      else { added.delete(box.value); removed.add(box.value); chosenCount -= 1; }
    }
    // Start the chosen conversations again from a list (a saved audience, or none).
    function startFrom(base, count) {
      hideOffer();
      baseField.value = base;
      added.clear();
      removed.clear();
      writeFields();
      chosenCount = count;
      $('input[name="audience"][value="listed"]').checked = true;
      showMode();
      refreshList();
    }
    list.addEventListener("change", function (event) {
      if (!event.target.matches('input[type="checkbox"]')) return;
      toggled(event.target);
      writeFields();
      hideOffer();  // what it said ("all 120 chosen") is no longer the whole story
      refreshCount();
    });
    $$("[data-select]").forEach(function (button) {
      button.addEventListener("click", function () {
        if (button.dataset.select === "none") {
          savedSelect.value = "";
          return startFrom("", 0);
        }
        $$('#audience input[type="checkbox"]:not(:checked):not(:disabled)').forEach(function (box) {
          box.checked = true;
          toggled(box);
        });
        writeFields();
        refreshCount();
        if (allMatchingShown()) return;  // all of them are chosen already, not only these
        if ($("#audience .more")) {  // more match than are loaded: only these are chosen
          offerStatus.textContent = offer.dataset.shownNote;
          offerButton.hidden = false;
        }
      });
    });
    var savedSelect = $('select[name="saved_audience"]');
    savedSelect.addEventListener("change", function () {
      var option = savedSelect.selectedOptions[0];
      if (savedSelect.value) startFrom("saved:" + savedSelect.value, parseInt(option.dataset.count, 10) || 0);
    });
    $$('input[name="audience"]').forEach(function (input) {
      input.addEventListener("change", function () { showMode(); refreshList(); });
    });
    // Enter searches at once instead of sending the whole form.
    $("#audience-search").addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); refreshList(); }
    });
    // "Show more" is replaced by the next page: the keyboard goes on at its first entry.
    var beforeMore = null;
    list.addEventListener("click", function (event) {
      var more = event.target.closest(".more");
      if (more) beforeMore = more.previousElementSibling;
    });
    document.body.addEventListener("htmx:afterSwap", function () {
      // A box checked while its page was on the way shows what was checked, not the page.
      if (mode() === "listed") {
        var all = allMatchingShown();
        $$('#audience input[type="checkbox"]').forEach(function (box) {
          if (added.has(box.value)) box.checked = true;
          else if (removed.has(box.value)) box.checked = false;
          else if (all) box.checked = true;  // a page asked for before the base changed
        });
        if (all) offerButton.hidden = true;
      }
      var found = $("#match-count [data-matching]");
      if (found) setCounter("matching", found.dataset.matching);
      refreshCount();
      if (beforeMore) {
        var next = beforeMore.nextElementSibling;
        var box = next && $("input, button", next);
        if (box) box.focus();
        beforeMore = null;
      }
    });

    return { refreshEstimate: refreshEstimate, showMode: showMode };
  }
})();
