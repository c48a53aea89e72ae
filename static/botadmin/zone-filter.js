// A search box before each time-zone select (<select data-zone-filter>, attributes from
// botadmin.timezones.zone_filter_attrs): what is typed narrows the select's ~400 zones
// to those whose name has it ("new york", "new_york" and "York" all find
// America/New_York) or one of its search words ("北京" finds Asia/Shanghai), and the
// first match is chosen when the chosen zone does not match.
// The select stays the form's field: without this script it works as it is.
(function () {
  "use strict";

  // Lower case, "_" "/" "-" as spaces: what one types of a zone's name.
  function words(text) {
    return text.toLowerCase().replace(/[_/\-]+/g, " ").replace(/\s+/g, " ").trim();
  }

  function setUp(select, index) {
    // More words a zone is found by: "上海", "Beijing" (botadmin.timezones.ZONE_SEARCH_WORDS).
    var more = JSON.parse(select.dataset.filterWords || "{}");
    var options = Array.from(select.options).map(function (option) {
      return { option: option, text: words(option.value + " " + option.text + " " + (more[option.value] || "")) };
    });
    var box = document.createElement("div");
    box.className = "zone-filter";
    var input = document.createElement("input");
    input.type = "search";
    input.id = (select.id || "zone") + "-filter-" + index;
    input.setAttribute("aria-controls", select.id);
    input.placeholder = select.dataset.filterPlaceholder || "";
    input.autocomplete = "off";
    var label = document.createElement("label");
    label.className = "small";
    label.htmlFor = input.id;
    label.textContent = select.dataset.filterLabel || "";
    var status = document.createElement("span");
    status.className = "zone-filter-status small";
    status.id = input.id + "-status";
    status.setAttribute("role", "status");
    input.setAttribute("aria-describedby", status.id);
    box.append(label, input, status);
    select.parentNode.insertBefore(box, select);

    function apply() {
      var query = words(input.value);
      var shown = [];
      options.forEach(function (entry) {
        var match = !query || entry.text.indexOf(query) !== -1;
        entry.option.hidden = !match;
        if (match) shown.push(entry.option);
      });
      Array.from(select.querySelectorAll("optgroup")).forEach(function (group) {
        group.hidden = !Array.from(group.children).some(function (option) { return !option.hidden; });
      });
      if (shown.length && shown.indexOf(select.selectedOptions[0]) === -1) {
        select.value = shown[0].value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
      // Nothing matches: the chosen zone stays, and stays visible in the select.
      if (!shown.length && select.selectedOptions[0]) select.selectedOptions[0].hidden = false;
      if (!query) status.textContent = "";
      else if (!shown.length) status.textContent = select.dataset.filterNone || "";
      else status.textContent = (select.dataset.filterCount || "").replace("%(count)s", shown.length);
      status.classList.toggle("error-text", Boolean(query) && !shown.length);
    }

    input.addEventListener("input", apply);
    input.addEventListener("keydown", function (event) {
      // Enter picks what is shown: to the select, not a submit of the form.
      if (event.key === "Enter") {
        event.preventDefault();
        select.focus();
      }
    });
  }

  function start() {
    Array.from(document.querySelectorAll("select[data-zone-filter]")).forEach(setUp);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
