package events

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ContentSecurityPolicy is sent with the HTML report: no scripts, no
// external anything; inline styles and data: images only.
const ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type pageData struct {
	R        *Report
	Rows     []pageRow
	Charts   []svgChart
	Reasons  svgChart
	Methods  []pageMethod
	RangeTxt string
}

type pageRow struct {
	Label, All, Human string
}

type pageMethod struct {
	Method string
	Count  int
}

var funcs = template.FuncMap{
	"f": func(v float64) string { return fmt.Sprintf("%.1f", v) },
}

// The page is parsed once per handler; no package-level mutable state.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Campaign {{.R.ID}} · sealgate report</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}
.sub{color:#57606a;margin:0 0 16px}
table{border-collapse:collapse}
th,td{border:1px solid #d0d7de;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}
th.head,td.head{background:#ddf4ff;font-weight:600}
.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start;margin:0 0 16px}
figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin:0 0 4px}
.note{color:#57606a;font-size:12px}
</style>
</head>
<body>
<h1>Campaign {{.R.ID}}</h1>
<p class="sub">{{.RangeTxt}}{{if .R.SuppressAutomated}} · headline numbers are human only (automated opens and clicks suppressed){{end}}</p>
<div class="row">
<table id="headline">
<tr><th></th><th{{if not .R.SuppressAutomated}} class="head"{{end}}>All</th><th{{if .R.SuppressAutomated}} class="head"{{end}}>Human only</th></tr>
{{range .Rows}}<tr><td>{{.Label}}</td><td{{if not $.R.SuppressAutomated}} class="head"{{end}}>{{.All}}</td><td{{if $.R.SuppressAutomated}} class="head"{{end}}>{{.Human}}</td></tr>
{{end}}</table>
<table id="delivery">
<tr><th>Delivery</th><th>Recipients</th></tr>
<tr><td>Delivered</td><td>{{.R.Delivery.Delivered}}</td></tr>
<tr><td>Deferred</td><td>{{.R.Delivery.Deferred}}</td></tr>
<tr><td>Bounced</td><td>{{.R.Delivery.Bounced}}</td></tr>
{{range .Methods}}<tr><td>&nbsp;&nbsp;via {{.Method}}</td><td>{{.Count}}</td></tr>
{{end}}<tr><td>Honeypot hits</td><td>{{.R.HoneypotHits}}</td></tr>
</table>
{{template "chart" .Reasons}}
</div>
<div class="row">
{{range .Charts}}{{template "chart" .}}{{end}}
</div>
<p class="note">Unique counts are per message and recipient; a click counts as an open. Time buckets are UTC {{.R.Bucket}}s.</p>
</body>
</html>
{{define "chart"}}<figure>
<figcaption>{{.Title}}</figcaption>
<svg id="{{.ID}}" xmlns="http://www.w3.org/2000/svg" width="{{f .Width}}" height="{{f .Height}}" viewBox="0 0 {{f .Width}} {{f .Height}}" role="img" aria-label="{{.Title}}">
{{range .Lines}}<line x1="{{f .X1}}" y1="{{f .Y1}}" x2="{{f .X2}}" y2="{{f .Y2}}" stroke="{{.Stroke}}" stroke-width="1"/>
{{end}}{{range .Rects}}<rect x="{{f .X}}" y="{{f .Y}}" width="{{f .W}}" height="{{f .H}}" fill="{{.Fill}}"><title>{{.Tip}}</title></rect>
{{end}}{{range .Texts}}<text x="{{f .X}}" y="{{f .Y}}" text-anchor="{{.Anchor}}" font-size="{{f .Size}}" fill="#1f2328">{{.Text}}</text>
{{end}}</svg>
</figure>{{end}}`

func parsePage() *template.Template {
	return template.Must(template.New("page").Funcs(funcs).Parse(pageTemplate))
}

func (h *api) campaignPage(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	rep, err := h.s.CampaignReport(r.PathValue("id"), q)
	if errors.Is(err, ErrBadQuery) {
		badRequest(w, queryMessage(err))
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	var buf bytes.Buffer
	if err := h.page.Execute(&buf, newPageData(rep)); err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Security-Policy", ContentSecurityPolicy)
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", v*100) }

func newPageData(r *Report) pageData {
	n := func(v int) string { return fmt.Sprint(v) }
	d := pageData{R: r}
	d.Rows = []pageRow{
		{"Delivered", n(r.All.Delivered), n(r.Human.Delivered)},
		{"Unique opens", n(r.All.UniqueOpens), n(r.Human.UniqueOpens)},
		{"Unique clicks", n(r.All.UniqueClicks), n(r.Human.UniqueClicks)},
		{"Open rate", pct(r.All.OpenRate), pct(r.Human.OpenRate)},
		{"Click rate", pct(r.All.ClickRate), pct(r.Human.ClickRate)},
		{"Click-to-open", pct(r.All.ClickToOpen), pct(r.Human.ClickToOpen)},
		{"Open events", n(r.All.Opens), n(r.Human.Opens)},
		{"Click events", n(r.All.Clicks), n(r.Human.Clicks)},
	}
	d.Charts = []svgChart{
		stackedChart("chart-opens", "Opens over time", r.Series, r.Bucket,
			func(p Point) (int, int) { return p.HumanOpens, p.AutomatedOpens }),
		stackedChart("chart-clicks", "Clicks over time", r.Series, r.Bucket,
			func(p Point) (int, int) { return p.HumanClicks, p.AutomatedClicks }),
	}
	d.Reasons = reasonsChart(r.AutomatedReasons)
	for m, c := range r.Delivery.ByMethod {
		d.Methods = append(d.Methods, pageMethod{m, c})
	}
	slices.SortFunc(d.Methods, func(a, b pageMethod) int { return strings.Compare(a.Method, b.Method) })
	d.RangeTxt = "All retained events"
	if !r.From.IsZero() || !r.To.IsZero() {
		from, to := "the beginning", "now"
		if !r.From.IsZero() {
			from = r.From.UTC().Format(time.RFC3339)
		}
		if !r.To.IsZero() {
			to = r.To.UTC().Format(time.RFC3339)
		}
		d.RangeTxt = "Events from " + from + " to " + to
	}
	return d
}
