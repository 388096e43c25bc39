package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file evaluates time_intervals: whether a moment falls into a named
// interval, for mute_time_intervals and active_time_intervals.

var weekdays = map[string]int{"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}

var months = map[string]int{"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6,
	"july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12}

// parseRange reads "a" or "a:b" where a and b are numbers or names from
// names (nil: numbers only).
func parseRange(s string, names map[string]int) (lo, hi int, err error) {
	one := func(v string) (int, error) {
		v = strings.ToLower(strings.TrimSpace(v))
		if n, ok := names[v]; ok {
			return n, nil
		}
		return strconv.Atoi(v)
	}
	a, b, isRange := strings.Cut(s, ":")
	if lo, err = one(a); err != nil {
		return 0, 0, fmt.Errorf("%q: not a valid value", s)
	}
	hi = lo
	if isRange {
		if hi, err = one(b); err != nil {
			return 0, 0, fmt.Errorf("%q: not a valid range", s)
		}
	}
	return lo, hi, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	return hh*60 + mm, nil
}

func validateIntervals(n NamedInterval) error {
	for _, ti := range n.TimeIntervals {
		if _, err := ti.contains(time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// contains says whether t falls into ti; err reports a malformed field.
func (ti TimeInterval) contains(t time.Time) (bool, error) {
	if ti.Location != "" {
		loc, err := time.LoadLocation(ti.Location)
		if err != nil {
			return false, fmt.Errorf("location %q: %w", ti.Location, err)
		}
		t = t.In(loc)
	} else {
		t = t.UTC()
	}
	in := true
	if len(ti.Times) > 0 {
		minute, ok := t.Hour()*60+t.Minute(), false
		for _, r := range ti.Times {
			a, err := parseClock(r.StartTime)
			if err != nil {
				return false, err
			}
			b, err := parseClock(r.EndTime)
			if err != nil {
				return false, err
			}
			if a >= b {
				return false, fmt.Errorf("start_time %s must be before end_time %s", r.StartTime, r.EndTime)
			}
			ok = ok || (minute >= a && minute < b)
		}
		in = in && ok
	}
	check := func(list []string, names map[string]int, v int, fix func(int) int) error {
		if len(list) == 0 {
			return nil
		}
		ok := false
		for _, s := range list {
			lo, hi, err := parseRange(s, names)
			if err != nil {
				return err
			}
			lo, hi = fix(lo), fix(hi)
			ok = ok || (v >= lo && v <= hi)
		}
		in = in && ok
		return nil
	}
	same := func(n int) int { return n }
	lastDay := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, t.Location()).Day()
	dom := func(n int) int { // negative days count from the month's end
		if n < 0 {
			return lastDay + 1 + n
		}
		return n
	}
	for _, err := range []error{
		check(ti.Weekdays, weekdays, int(t.Weekday()), same),
		check(ti.DaysOfMonth, nil, t.Day(), dom),
		check(ti.Months, months, int(t.Month()), same),
		check(ti.Years, nil, t.Year(), same),
	} {
		if err != nil {
			return false, err
		}
	}
	return in, nil
}

// intervalsContain says whether t falls into any of the named intervals.
func intervalsContain(named map[string][]TimeInterval, names []string, t time.Time) bool {
	for _, n := range names {
		for _, ti := range named[n] {
			if ok, _ := ti.contains(t); ok {
				return true
			}
		}
	}
	return false
}
