// The map: the project's own village/cell polygons as the base map (choropleth of open cases)
// and open case points without personal data. A tile layer only when one is configured.
(function () {
  "use strict";
  var cfgEl = document.getElementById("map-config");
  if (!cfgEl) { return; }
  var cfg = JSON.parse(cfgEl.textContent);
  var map = L.map("map", { attributionControl: false, zoomSnap: 0.25 });
  if (cfg.tiles) { L.tileLayer(cfg.tiles, { maxZoom: 18 }).addTo(map); }
  var steps = [0, 1, 3, 6, 10];
  var colors = ["#f1f5f9", "#fde0dc", "#f9a99f", "#ef6c5b", "#c62828"];
  function colour(n) {
    var c = colors[0];
    for (var i = 0; i < steps.length; i++) { if (n >= steps[i]) { c = colors[i]; } }
    return c;
  }
  var riskColour = { red: "#d32f2f", orange: "#f57c00", yellow: "#f9a825", blue: "#1e88e5", unassessed: "#9e9e9e" };
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error("加载失败 " + r.status); } return r.json(); });
  }
  var legend = document.getElementById("legend");
  legend.innerHTML = "<div><b>在办案件数</b></div>" + steps.map(function (s, i) {
    var label = i === steps.length - 1 ? s + " 以上" : (i === 0 ? "0" : s + "–" + (steps[i + 1] - 1));
    return "<div><i class=\"sw" + i + "\"></i>" + label + "</div>";
  }).join("") + "<div><b>案件风险</b></div>" + Object.keys(cfg.risk_labels).map(function (k) {
    return "<div><i class=\"dot-" + k + "\"></i>" + esc(cfg.risk_labels[k]) + "</div>";
  }).join("") + "<div><i class=\"hs\"></i>热点（近30天≥3件/200米）</div>";
  legend.querySelectorAll("i").forEach(function (el) {
    if (el.className === "hs") { el.style.border = "2px dashed #6a1b9a"; return; }
    var m = el.className.match(/^sw(\d)$/);
    el.style.background = m ? colors[+m[1]] : riskColour[el.className.replace("dot-", "")];
    if (!m) { el.style.borderRadius = "5px"; el.style.width = "10px"; }
  });
  getJSON(cfg.areas).then(function (fc) {
    var layer = L.geoJSON(fc, {
      style: function (f) {
        return { color: "#7a8794", weight: 1, fillOpacity: 0.85, fillColor: colour(f.properties.open_cases) };
      },
      onEachFeature: function (f, l) {
        var p = f.properties;
        var text = esc(p.name) + "<br>在办 " + p.open_cases + " 件，红色 " + p.red +
          "，橙色 " + p.orange + "，逾期 " + p.overdue;
        l.bindTooltip(text, { sticky: true });
        var links = "<a href=\"" + esc(cfg.dashboard.replace("__code__", p.code)) + "\">统计</a>";
        if (cfg.drill) {
          links += " · <a href=\"" + esc(cfg.drill.replace("__code__", p.code)) + "\">网格地图</a>";
        }
        l.bindPopup("<div class=\"area-popup\">" + text + "<br>" + links + "</div>");
      }
    }).addTo(map);
    map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    return getJSON(cfg.cases);
  }).then(function (fc) {
    L.geoJSON(fc, {
      pointToLayer: function (f, latlng) {
        var p = f.properties;
        return L.circleMarker(latlng, {
          radius: p.risk_level === "red" ? 8 : 6, weight: 1, color: "#fff",
          className: "case-marker risk-" + p.risk_level,
          fillColor: riskColour[p.risk_level] || "#555", fillOpacity: 0.95
        });
      },
      onEachFeature: function (f, l) {
        var p = f.properties;
        var href = cfg.case_url.replace("__id__", encodeURIComponent(p.id));
        l.bindPopup("<div class=\"case-popup\" data-case-id=\"" + esc(p.id) + "\"><b>" + esc(p.case_number) +
          "</b><br>" + esc(cfg.categories[p.category] || p.category) + " · " +
          esc(cfg.status_labels[p.status] || p.status) + " · " + esc(cfg.risk_labels[p.risk_level] || "") +
          "风险<br><a class=\"open-case\" href=\"" + esc(href) + "\">打开案件</a></div>");
      }
    }).addTo(map);
    document.getElementById("map").setAttribute("data-loaded", String(fc.features.length));
    return getJSON(cfg.hotspots);
  }).then(function (fc) {
    // Hot spots: where several cases of the last 30 days cluster (dashed outline).
    fc.features.forEach(function (f) {
      var p = f.properties;
      var c = f.geometry.coordinates;
      L.circle([c[1], c[0]], {
        radius: Math.max(p.radius_m, 60), color: "#6a1b9a", weight: 2, dashArray: "4 4",
        fill: false, interactive: false, className: "hotspot"
      }).addTo(map);
    });
    document.getElementById("map").setAttribute("data-hotspots", String(fc.features.length));
  }).catch(function (e) {
    legend.innerHTML = "<span class=\"error\">" + esc(e.message) + "</span>";
  });
})();
