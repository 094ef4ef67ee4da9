package events

import (
	"math"
	"strconv"
	"time"
)

// Chart colours (constants, never data).
const (
	colourHuman     = "#1f6feb"
	colourAutomated = "#d29922"
	colourReason    = "#8250df"
	colourAxis      = "#57606a"
	colourGrid      = "#d0d7de"
)

// svgChart is a chart reduced to primitives, rendered by html/template so
// that every label is escaped.
type svgChart struct {
	ID, Title     string
	Width, Height float64
	Rects         []svgRect
	Lines         []svgLine
	Texts         []svgText
}

type svgRect struct {
	X, Y, W, H float64
	Fill       string
	Tip        string // <title> tooltip
}

type svgLine struct {
	X1, Y1, X2, Y2 float64
	Stroke         string
}

type svgText struct {
	X, Y   float64
	Anchor string // start | middle | end
	Size   float64
	Text   string
}

// niceStep returns the y-axis step for four gridlines covering v: 1, 2 or
// 5 times a power of ten, so that every tick label is a whole number.
func niceStep(v int) int {
	raw := float64(max(v, 1)) / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return max(int(m*p), 1)
		}
	}
	return int(10 * p)
}

// stackedChart draws one stacked bar per point: human below, automated above.
func stackedChart(id, title string, pts []Point, b Bucket, value func(Point) (human, automated int)) svgChart {
	const (
		w, h                     = 540.0, 260.0
		left, right, top, bottom = 44.0, 12.0, 40.0, 36.0
	)
	c := svgChart{ID: id, Title: title, Width: w, Height: h}
	pw, ph := w-left-right, h-top-bottom
	maxV := 0
	for _, p := range pts {
		hu, au := value(p)
		maxV = max(maxV, hu+au)
	}
	step := niceStep(maxV)
	ym := 4 * step
	// Grid and y ticks.
	for i := 0; i <= 4; i++ {
		y := top + ph - ph*float64(i)/4
		c.Lines = append(c.Lines, svgLine{left, y, left + pw, y, colourGrid})
		c.Texts = append(c.Texts, svgText{left - 6, y + 4, "end", 11, strconv.Itoa(step * i)})
	}
	c.Lines = append(c.Lines, svgLine{left, top + ph, left + pw, top + ph, colourAxis})
	// Legend.
	c.Rects = append(c.Rects,
		svgRect{left, 12, 12, 12, colourHuman, "human"},
		svgRect{left + 90, 12, 12, 12, colourAutomated, "automated"})
	c.Texts = append(c.Texts,
		svgText{left + 18, 22, "start", 12, "Human"},
		svgText{left + 108, 22, "start", 12, "Automated"})
	if len(pts) == 0 {
		c.Texts = append(c.Texts, svgText{left + pw/2, top + ph/2, "middle", 13, "No events in this range"})
		return c
	}
	slot := pw / float64(len(pts))
	bw := max(slot*0.7, 1)
	every := (len(pts) + 7) / 8
	for i, p := range pts {
		hu, au := value(p)
		x := left + slot*float64(i) + (slot-bw)/2
		hh := ph * float64(hu) / float64(ym)
		ah := ph * float64(au) / float64(ym)
		label := bucketLabel(p.Start, b)
		if hu > 0 {
			c.Rects = append(c.Rects, svgRect{x, top + ph - hh, bw, hh, colourHuman,
				label + ": " + strconv.Itoa(hu) + " human"})
		}
		if au > 0 {
			c.Rects = append(c.Rects, svgRect{x, top + ph - hh - ah, bw, ah, colourAutomated,
				label + ": " + strconv.Itoa(au) + " automated"})
		}
		if i%every == 0 {
			c.Texts = append(c.Texts, svgText{x + bw/2, top + ph + 16, "middle", 10, label})
		}
	}
	return c
}

func bucketLabel(t time.Time, b Bucket) string {
	if b == BucketDay {
		return t.UTC().Format("Jan 2")
	}
	return t.UTC().Format("Jan 2 15h")
}

// maxReasonRows bounds the reasons chart; the rest are summed in "other".
const maxReasonRows = 10

func reasonsChart(rs []ReasonCount) svgChart {
	const (
		w, rowH, left, right, top = 470.0, 26.0, 150.0, 40.0, 12.0
	)
	rows := rs
	if len(rows) > maxReasonRows {
		other := ReasonCount{Reason: "other"}
		for _, r := range rows[maxReasonRows-1:] {
			other.Total += r.Total
		}
		rows = append(append([]ReasonCount(nil), rows[:maxReasonRows-1]...), other)
	}
	h := top*2 + rowH*float64(max(len(rows), 1))
	c := svgChart{ID: "chart-reasons", Title: "Automated events by reason", Width: w, Height: h}
	if len(rows) == 0 {
		c.Texts = append(c.Texts, svgText{w / 2, top + rowH/2 + 4, "middle", 13, "No automated events"})
		return c
	}
	maxV := 1
	for _, r := range rows {
		maxV = max(maxV, r.Total)
	}
	pw := w - left - right
	c.Lines = append(c.Lines, svgLine{left, top, left, top + rowH*float64(len(rows)), colourAxis})
	for i, r := range rows {
		y := top + rowH*float64(i)
		bw := max(pw*float64(r.Total)/float64(maxV), 1)
		c.Rects = append(c.Rects, svgRect{left, y + 4, bw, rowH - 8, colourReason,
			r.Reason + ": " + strconv.Itoa(r.Total)})
		c.Texts = append(c.Texts,
			svgText{left - 8, y + rowH/2 + 4, "end", 12, r.Reason},
			svgText{left + bw + 6, y + rowH/2 + 4, "start", 12, strconv.Itoa(r.Total)})
	}
	return c
}
