// Walk-in registration: pick the spot on the project's own village polygons (WGS-84).
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("pick-config").textContent);
  var map = L.map("pick-map", { attributionControl: false });
  var lon = document.getElementById("lon"), lat = document.getElementById("lat");
  var picked = document.getElementById("picked"), marker = null;
  function put(latlng) {
    if (marker) { marker.setLatLng(latlng); } else {
      marker = L.circleMarker(latlng, { radius: 8, color: "#fff", weight: 2, fillColor: "#b71c1c", fillOpacity: 1 }).addTo(map);
    }
    lon.value = latlng.lng.toFixed(6);
    lat.value = latlng.lat.toFixed(6);
    picked.textContent = "已选：" + lon.value + ", " + lat.value;
  }
  fetch(cfg.areas, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.json(); })
    .then(function (fc) {
      var layer = L.geoJSON(fc, {
        style: { color: "#7a8794", weight: 1, fillColor: "#f1f5f9", fillOpacity: 0.9 },
        onEachFeature: function (f, l) { l.bindTooltip(f.properties.name, { sticky: true }); }
      }).addTo(map);
      map.fitBounds(layer.getBounds());
      layer.on("click", function (e) { put(e.latlng); });
      if (lon.value && lat.value) { put(L.latLng(+lat.value, +lon.value)); }
      document.getElementById("pick-map").setAttribute("data-loaded", "1");
    });
})();
