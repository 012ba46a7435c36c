package ui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/fusebox-dev/fusebox/resilience"
)

// fmtRate formats a rate per second: "0", "0.3", "12.4", "140".
func fmtRate(x float64) string {
	switch {
	case x == 0 || math.IsNaN(x):
		return "0"
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strconv.FormatFloat(x, 'f', 1, 64)
}

// fmtPct formats a ratio in [0, 1] as a percentage: "71.2%", "100%".
func fmtPct(r float64) string {
	if r >= 1 {
		return "100%"
	}
	return strconv.FormatFloat(r*100, 'f', 1, 64) + "%"
}

// fmtDur formats a duration for people: "850 µs", "38 ms", "1.9 s", "2m30s".
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0 ms"
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + " µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

// fmtNum formats an SVG coordinate rounded to one decimal ("12", "3.5",
// "-0.5") with integer arithmetic only: charts format thousands of them.
func fmtNum(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e15 {
		return "0"
	}
	return string(appendNum(make([]byte, 0, 8), x))
}

// appendNum appends x as fmtNum formats it.
func appendNum(b []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1e15 {
		return append(b, '0')
	}
	t := int64(math.Round(x * 10))
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/10, 10)
	if d := t % 10; d != 0 {
		b = append(b, '.', byte('0'+d))
	}
	return b
}

var stateWords = [resilience.NumStates]string{"CLOSED", "OPEN", "HALF-OPEN", "FORCED OPEN", "FORCED CLOSED"}

// stateWord is the state in capitals, as the pill shows it.
func stateWord(st resilience.State) string {
	if st < resilience.NumStates {
		return stateWords[st]
	}
	return strings.ToUpper(st.String())
}

// stateClass is the CSS class of a state's colour ("state-half-open").
func stateClass(st resilience.State) string {
	return "state-" + strings.ReplaceAll(st.String(), "_", "-")
}

// clockTime formats a time of day; "" for the zero time.
func (s *Server) clockTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.loc).Format("15:04:05")
}

// stamp formats a date and time; "" for the zero time.
func (s *Server) stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.loc).Format("2006-01-02 15:04:05")
}

// fmtSpanWords names a window's span as a person says it: "10 s",
// "1 min", "5 min"; fallback when span is zero (a snapshot that did not
// set it).
func fmtSpanWords(span, fallback time.Duration) string {
	if span <= 0 {
		span = fallback
	}
	if span >= time.Minute && span%time.Minute == 0 {
		return strconv.FormatInt(int64(span/time.Minute), 10) + " min"
	}
	return strconv.FormatFloat(span.Seconds(), 'f', -1, 64) + " s"
}
