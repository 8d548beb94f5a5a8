// The atlas's search (species and communes) and the species list's filters: a few lines,
// no library; the index is a small JSON file beside the pages.
(function () {
  var input = document.getElementById("q");
  var out = document.getElementById("resultats");
  var root = input ? input.getAttribute("data-root") : "";
  var index = null;
  function norm(s) { return (s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); }
  function show(q) {
    out.innerHTML = "";
    if (!index || q.length < 2) return;
    var n = norm(q), hits = 0;
    for (var i = 0; i < index.length && hits < 12; i++) {
      var e = index[i];
      if (norm(e.t).indexOf(n) >= 0 || norm(e.s).indexOf(n) >= 0) {
        var li = document.createElement("li"), a = document.createElement("a");
        a.href = root + e.u; a.textContent = e.t + (e.s && e.s !== e.t ? " (" + e.s + ")" : "");
        li.appendChild(a); out.appendChild(li); hits++;
      }
    }
    if (!hits) { var li = document.createElement("li"); li.textContent = "Aucun résultat"; out.appendChild(li); }
  }
  if (input) {
    input.addEventListener("input", function () {
      if (index) return show(input.value);
      fetch(root + "recherche.json").then(function (r) { return r.json(); })
        .then(function (j) { index = j; show(input.value); })
        .catch(function () { out.textContent = "La recherche demande d'ouvrir le site depuis un serveur web."; });
    });
  }
  var table = document.getElementById("especes");
  if (table) {
    var boxes = document.querySelectorAll(".flt"), group = document.getElementById("groupe");
    function filter() {
      var on = [].filter.call(boxes, function (b) { return b.checked; }).map(function (b) { return b.value; });
      [].forEach.call(table.tBodies[0].rows, function (row) {
        var ok = (!group.value || row.getAttribute("data-group") === group.value) &&
          on.every(function (k) { return row.hasAttribute("data-" + k); });
        row.hidden = !ok;
      });
    }
    [].forEach.call(boxes, function (b) { b.addEventListener("change", filter); });
    group.addEventListener("change", filter);
  }
})();
