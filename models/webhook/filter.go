package webhook

import (
	"slices"
	"strings"
)

// FilterSubject is what a webhook filter is evaluated against: the incident's service, its
// alert source and its urgency.
type FilterSubject struct {
	ServiceID   string
	ServiceName string
	AlertSource string
	Urgency     string
}

// Matches reports whether the subject passes the filter. A nil filter matches everything. An
// AND group matches when all its conditions and groups match, an OR group when at least one
// does; a group with neither conditions nor groups matches. SERVICE compares with the service
// id or (case-insensitively) its name, ALERT_SOURCE and URGENCY compare case-insensitively.
// A condition with an unknown field or operator never matches.
func (f *Filter) Matches(subj FilterSubject) bool {
	if f == nil {
		return true
	}
	if len(f.Conditions) == 0 && len(f.Groups) == 0 {
		return true
	}
	or := strings.EqualFold(f.Join, FilterOr)
	for _, c := range f.Conditions {
		if c.matches(subj) == or {
			return or
		}
	}
	for _, g := range f.Groups {
		if g.Matches(subj) == or {
			return or
		}
	}
	return !or
}

// matches evaluates one condition.
func (c Condition) matches(subj FilterSubject) bool {
	want := strings.TrimSpace(c.Value)
	var is bool
	switch strings.ToUpper(c.Field) {
	case FilterService:
		is = want == subj.ServiceID || (want != "" && strings.EqualFold(want, subj.ServiceName))
	case FilterAlertSource:
		is = strings.EqualFold(want, strings.TrimSpace(subj.AlertSource))
	case FilterUrgency:
		is = strings.EqualFold(want, subj.Urgency)
	default:
		return false
	}
	switch strings.ToUpper(c.Operator) {
	case FilterIs:
		return is
	case FilterIsNot:
		return !is
	}
	return false
}

// canonical returns a copy of the filter with each URGENCY value written HIGH or LOW when it
// names one in any case and with any surrounding spaces (matching ignores both, and
// placeholders write urgency in lower case); other values are kept as written. A nil filter
// stays nil.
func (f *Filter) canonical() *Filter {
	if f == nil {
		return nil
	}
	c := &Filter{Join: f.Join, Conditions: slices.Clone(f.Conditions)}
	for i, cond := range c.Conditions {
		if cond.Field != FilterUrgency {
			continue
		}
		if v := strings.ToUpper(strings.TrimSpace(cond.Value)); v == UrgencyHigh || v == UrgencyLow {
			c.Conditions[i].Value = v
		}
	}
	if f.Groups != nil {
		c.Groups = make([]*Filter, len(f.Groups))
		for i, g := range f.Groups {
			c.Groups[i] = g.canonical()
		}
	}
	return c
}
