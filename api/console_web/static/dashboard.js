// Dashboard charts (ECharts), drawn from the JSON block the page carries.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var RED = "#b71c1c";
  var palette = ["#b71c1c", "#1f5fa8", "#f57c00", "#2e7d32", "#6a1b9a", "#00838f", "#795548"];
  var charts = [];
  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var c = echarts.init(el, null, { renderer: "canvas" });
    option.color = option.color || palette;
    option.textStyle = { fontFamily: "inherit" };
    c.setOption(option);
    charts.push(c);
  }
  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(1) + "%"; }
  var months = data.trend.map(function (t) { return t.month; });
  chart("chart-trend", {
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 40, right: 50, top: 36, bottom: 28 },
    xAxis: { type: "category", data: months },
    yAxis: [{ type: "value", name: "件" }, { type: "value", name: "率", max: 1,
      axisLabel: { formatter: function (v) { return v * 100 + "%"; } } }],
    series: [
      { name: "新登记", type: "bar", data: data.trend.map(function (t) { return t.new_registered; }) },
      { name: "受理", type: "bar", data: data.trend.map(function (t) { return t.accepted; }) },
      { name: "化解", type: "bar", data: data.trend.map(function (t) { return t.resolved; }) },
      { name: "就地化解率", type: "line", yAxisIndex: 1,
        data: data.trend.map(function (t) { return t.local_rate; }),
        tooltip: { valueFormatter: pct } },
      { name: "调解成功率", type: "line", yAxisIndex: 1,
        data: data.trend.map(function (t) { return t.success_rate; }),
        tooltip: { valueFormatter: pct } }
    ]
  });
  function bars(id, items, color) {
    var shown = items.filter(function (i) { return i.count > 0; });
    if (!shown.length) { shown = items.slice(0, 8); }
    chart(id, {
      tooltip: { trigger: "axis" },
      grid: { left: 110, right: 20, top: 10, bottom: 24 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: shown.map(function (i) { return i.label; }), inverse: true },
      series: [{ type: "bar", data: shown.map(function (i) { return i.count; }), itemStyle: { color: color } }]
    });
  }
  bars("chart-category", data.counts.by_category, "#1f5fa8");
  bars("chart-keyarea", data.counts.by_key_area, "#00838f");
  var riskColors = { red: "#d32f2f", orange: "#f57c00", yellow: "#f9a825", blue: "#1e88e5" };
  chart("chart-risk", {
    tooltip: { trigger: "item" },
    legend: { bottom: 0 },
    series: [{ type: "pie", radius: ["40%", "70%"], center: ["50%", "45%"],
      data: data.counts.by_risk.map(function (r) {
        return { name: r.label, value: r.count, itemStyle: { color: riskColors[r.key] } };
      }) }]
  });
  if (data.children.length) {
    var names = data.children.map(function (c) { return c.name; });
    chart("chart-children", {
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 40, right: 50, top: 36, bottom: 80 },
      dataZoom: data.children.length > 20 ? [{ type: "slider", height: 14, bottom: 4 }] : [],
      xAxis: { type: "category", data: names, axisLabel: { rotate: 45, interval: 0 } },
      yAxis: [{ type: "value", name: "件", minInterval: 1 }, { type: "value", name: "率", max: 1,
        axisLabel: { formatter: function (v) { return v * 100 + "%"; } } }],
      series: [
        { name: "新登记", type: "bar", data: data.children.map(function (c) { return c.counts.new_registered; }) },
        { name: "在办", type: "bar", data: data.children.map(function (c) { return c.counts.in_progress; }) },
        { name: "化解", type: "bar", data: data.children.map(function (c) { return c.counts.resolved; }) },
        { name: "就地化解率", type: "line", yAxisIndex: 1, itemStyle: { color: RED },
          data: data.children.map(function (c) { return c.measures.local_rate; }),
          tooltip: { valueFormatter: pct } }
      ]
    });
  }
  // A click on a child area opens its own dashboard (township → village → cells).
  var childChart = charts[charts.length - 1];
  if (data.children.length && childChart) {
    childChart.on("click", function (params) {
      var child = data.children[params.dataIndex];
      if (child) { window.location.search = "?area=" + encodeURIComponent(child.code); }
    });
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
