/** The console's only stylesheet, served as a file so the Content-Security-Policy can forbid inline styles. */
export const STYLESHEET = `
:root { --ink:#1d2330; --muted:#5b6475; --line:#d9dde5; --bg:#f6f7f9; --accent:#1f5fbf; --bad:#b3261e; --ok:#1e7d3a; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--ink); background:var(--bg); }
header.top { display:flex; gap:1.5rem; align-items:center; padding:.6rem 1.2rem; background:#fff; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header.top .brand { font-weight:700; }
nav a { margin-right:1rem; color:var(--accent); text-decoration:none; }
nav a[aria-current=page] { font-weight:700; text-decoration:underline; }
header.top .who { margin-left:auto; color:var(--muted); font-size:.9em; display:flex; gap:.6rem; align-items:center; }
main { max-width:1100px; margin:1.2rem auto; padding:0 1.2rem; }
h1 { font-size:1.45rem; margin:.2rem 0 1rem; }
h2 { font-size:1.15rem; margin:1.6rem 0 .6rem; }
section.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:1rem 1.2rem; margin-bottom:1rem; }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { text-align:left; padding:.35rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:.85em; color:var(--muted); font-weight:600; }
tr.overdue td { background:#fdecea; }
tr.has-issue td { background:#fff4e5; }
.issue, .error { color:var(--bad); }
.notice { border-left:4px solid var(--ok); background:#eaf6ee; padding:.5rem .8rem; margin:0 0 1rem; }
.alert { border-left:4px solid var(--bad); background:#fdecea; padding:.5rem .8rem; margin:0 0 1rem; }
.muted { color:var(--muted); }
.badge { display:inline-block; padding:0 .45rem; border-radius:9px; font-size:.82em; background:#e8ebf0; }
.badge.opted_in, .badge.done, .badge.completed, .badge.ok, .badge.confirmed, .badge.granted { background:#dcefe2; color:var(--ok); }
.badge.opted_out, .badge.dead, .badge.failed, .badge.fail, .badge.overdue { background:#fbdcd9; color:var(--bad); }
.badge.pending, .badge.open, .badge.warn, .badge.requested { background:#fff1cc; color:var(--warn); }
textarea { width:100%; min-height:24rem; font:13px/1.4 ui-monospace, Menlo, Consolas, monospace; }
input[type=text], input[type=password], input[type=tel] { font:inherit; padding:.35rem .5rem; min-width:18rem; }
select { font:inherit; padding:.3rem .4rem; }
fieldset.example { border:1px solid #ccd; display:flex; flex-wrap:wrap; gap:0 1.5rem; margin:.6rem 0; }
button { font:inherit; padding:.35rem .9rem; border:1px solid var(--accent); background:var(--accent); color:#fff; border-radius:4px; cursor:pointer; }
button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
form.inline { display:inline; }
pre.diff { background:#fff; border:1px solid var(--line); padding:.5rem; overflow:auto; font-size:13px; }
pre.diff .add { background:#e6f4ea; color:#0b5a27; display:block; }
pre.diff .del { background:#fce8e6; color:#8c1d18; display:block; }
pre.diff .same { display:block; color:var(--muted); }
blockquote { margin:.3rem 0; padding:.3rem .6rem; border-left:3px solid var(--line); background:#fafbfc; white-space:pre-wrap; }
ol.timeline { list-style:none; padding:0; }
ol.timeline li { border-left:3px solid var(--accent); padding:.3rem .8rem; margin-bottom:.6rem; background:#fff; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:.2rem .8rem; margin:.3rem 0; }
dl.kv dt { color:var(--muted); }
dl.kv dd { margin:0; word-break:break-all; }
.field { margin:.6rem 0; }
.field label { display:block; font-weight:600; margin-bottom:.2rem; }
svg.chart { background:#fff; border:1px solid var(--line); max-width:100%; height:auto; }
.legend span { margin-right:1rem; }
.legend i { display:inline-block; width:.8rem; height:.8rem; margin-right:.3rem; vertical-align:middle; }
code { font-size:.92em; }
td, dd, li, .explain code { overflow-wrap:anywhere; }
pre { overflow-x:auto; white-space:pre-wrap; overflow-wrap:anywhere; }
.tiles { display:grid; grid-template-columns:repeat(auto-fill, minmax(16rem, 1fr)); gap:.8rem; margin-bottom:1rem; }
a.tile { display:flex; flex-direction:column; gap:.2rem; background:#fff; border:1px solid var(--line); border-left:5px solid var(--line); border-radius:6px; padding:.7rem .9rem; color:inherit; text-decoration:none; height:100%; }
a.tile:hover, a.tile:focus { border-color:var(--accent); }
a.tile.good { border-left-color:var(--ok); } a.tile.warn { border-left-color:var(--warn); } a.tile.bad { border-left-color:var(--bad); }
a.tile .tile-title { color:var(--muted); font-size:.85em; font-weight:600; }
a.tile .big { font-size:1.5rem; font-weight:700; }
a.tile.bad .big { color:var(--bad); }
.tile-wrap { display:flex; flex-direction:column; gap:.4rem; }
table.mini { font-size:.85em; background:transparent; }
table.mini th, table.mini td { padding:.1rem .3rem; }
.actions { display:flex; flex-direction:column; gap:.6rem; }
form.action { display:flex; flex-wrap:wrap; gap:.4rem .6rem; align-items:center; border:1px solid var(--line); border-radius:4px; padding:.5rem .7rem; }
label.check { font-weight:400; }
.explain div { color:var(--muted); margin-top:.15rem; }
.retry-all { margin:0 0 .6rem; }
form.filters { display:flex; flex-wrap:wrap; gap:0 1rem; align-items:flex-end; }
form.filters input[type=text] { min-width:10rem; }
form.filters .buttons { display:flex; gap:.6rem; align-items:center; }
details.section > summary { cursor:pointer; }
details.section > summary > h2, details.section > summary > h3 { display:inline; }
details.section details.section { margin:.6rem 0; }
ul.failing li { margin:.2rem 0; }
input.token { width:100%; font:13px ui-monospace, Menlo, Consolas, monospace; }
tr.revoked td { color:var(--muted); }
@media (max-width: 760px) {
  body { font-size:14px; }
  header.top { gap:.4rem .8rem; padding:.5rem .7rem; }
  header.top .who { margin-left:0; flex-wrap:wrap; }
  nav { display:flex; flex-wrap:wrap; gap:.2rem .8rem; }
  nav a { margin-right:0; }
  main { padding:0 .6rem; margin-top:.8rem; }
  section.card { padding:.7rem .8rem; }
  /* wide tables scroll inside their card instead of widening the page */
  table { display:block; overflow-x:auto; max-width:100%; }
  table.mini { display:table; }
  input[type=text], input[type=password], input[type=tel], select { min-width:0; width:100%; max-width:100%; }
  dl.kv { grid-template-columns:1fr; }
  dl.kv dt { margin-top:.3rem; }
  .tiles { grid-template-columns:1fr; }
}
`;
