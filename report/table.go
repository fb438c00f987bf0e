package report

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// Table writes reports as aligned rows for people, one per report, as they
// arrive: fixed column widths, so no buffering is needed.
type Table struct {
	w      io.Writer
	header bool
}

// NewTable returns a Table writing to w.
func NewTable(w io.Writer) *Table { return &Table{w: w} }

const subjectWidth = 46

// Write prints one report's row, and the header before the first.
func (t *Table) Write(r *Report) error {
	if !t.header {
		t.header = true
		if _, err := fmt.Fprintf(t.w, "%-*s  %-10s  %6s  %s\n", subjectWidth, "SUBJECT", "VERDICT", "SCORE", "TOP LABELS"); err != nil {
			return err
		}
	}
	subject := r.Subject
	if subject == "" {
		subject = "(no subject)"
	}
	_, err := fmt.Fprintf(t.w, "%s  %-10s  %6.1f  %s\n", fit(subject, subjectWidth), r.Verdict, r.Score, strings.Join(r.TopLabels(3), ", "))
	return err
}

// fit pads or cuts s to exactly n terminal columns, so columns line up
// whatever the script of the subject: CJK characters and most emoji take
// two columns.
func fit(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	total := 0
	for _, r := range s {
		total += runeWidth(r)
	}
	if total <= n {
		return s + strings.Repeat(" ", n-total)
	}
	var b strings.Builder
	cols := 0
	for _, r := range s {
		w := runeWidth(r)
		if cols+w > n-1 {
			break
		}
		b.WriteRune(r)
		cols += w
	}
	b.WriteString("…")
	return b.String() + strings.Repeat(" ", n-1-cols)
}

func runeWidth(r rune) int {
	switch {
	case r == 0x200d || (r >= 0xfe00 && r <= 0xfe0f) || (r >= 0x300 && r <= 0x36f):
		return 0 // joiners, variation selectors, combining marks
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}
