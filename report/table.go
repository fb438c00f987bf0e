package report

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
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

// fit pads or cuts s to exactly n runes, so columns line up whatever the
// script of the subject.
func fit(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s)
	if c := utf8.RuneCountInString(s); c <= n {
		return s + strings.Repeat(" ", n-c)
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}
