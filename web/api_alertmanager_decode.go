package web

import (
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/valyala/fastjson"

	"github.com/vigil-monitoring/vigil/rules/notify"
)

// This file reads the body of POST /api/v2/alerts: a JSON array of
// Alertmanager's postable alerts. It uses fastjson rather than
// encoding/json, whose reflection, and model.LabelSet's UnmarshalJSON
// scanning each label set a second time, took more CPU than routing the
// alerts. The checks are those of the API: every alert an object, its
// labels and annotations objects of strings, its times RFC 3339.

// amAlertParsers reuse fastjson's parsers between requests.
var amAlertParsers = sync.Pool{New: func() any { return &amAlertDecoder{strs: map[string]string{}} }}

// amAlertDecoder is a parser and the strings of one request. A body
// repeats the same label names and many values (alertname, severity,
// team) in each alert: strs keeps one copy of each short string.
type amAlertDecoder struct {
	p    fastjson.Parser
	strs map[string]string
}

// maxPooledStrings is how many strings a pooled decoder's map may have
// held and still be reused.
const maxPooledStrings = 4096

// maxInterned is the longest string intern keeps; longer ones (URLs,
// descriptions) rarely repeat.
const maxInterned = 64

func (d *amAlertDecoder) intern(b []byte) string {
	if len(b) > maxInterned {
		return string(b)
	}
	if s, ok := d.strs[string(b)]; ok { // no allocation for the lookup
		return s
	}
	s := string(b)
	d.strs[s] = s
	return s
}

// decodeAMAlerts reads the alerts of body; an error names the alert (by
// its index) and the field that is wrong. The strings are copies: the
// body's buffer may be reused once it returns.
func decodeAMAlerts(body []byte) ([]*notify.Alert, error) {
	d := amAlertParsers.Get().(*amAlertDecoder)
	defer func() {
		if len(d.strs) > maxPooledStrings {
			d.strs = map[string]string{} // not kept at the size of one large request
		} else {
			clear(d.strs)
		}
		amAlertParsers.Put(d)
	}()
	v, err := d.p.ParseBytes(body)
	if err != nil {
		return nil, fmt.Errorf("cannot decode the alerts: %w", err)
	}
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	arr, err := v.Array()
	if err != nil {
		return nil, fmt.Errorf("cannot decode the alerts: the body is a JSON %s; send an array of alerts", v.Type())
	}
	out := make([]*notify.Alert, 0, len(arr))
	for i, av := range arr {
		a, err := d.alert(av)
		if err != nil {
			return nil, fmt.Errorf("alert %d: %w", i, err)
		}
		out = append(out, a)
	}
	return out, nil
}

func (d *amAlertDecoder) alert(v *fastjson.Value) (*notify.Alert, error) {
	obj, err := v.Object()
	if err != nil {
		return nil, fmt.Errorf("a JSON %s, not an object", v.Type())
	}
	a := &notify.Alert{}
	obj.Visit(func(key []byte, fv *fastjson.Value) {
		if err != nil {
			return
		}
		switch string(key) {
		case "labels":
			a.Labels, err = d.labelSet("labels", fv)
		case "annotations":
			a.Annotations, err = d.labelSet("annotations", fv)
		case "startsAt":
			a.StartsAt, err = amPostedTime("startsAt", fv)
		case "endsAt":
			a.EndsAt, err = amPostedTime("endsAt", fv)
		case "generatorURL":
			if fv.Type() == fastjson.TypeNull {
				return
			}
			s, e := fv.StringBytes()
			if e != nil {
				err = fmt.Errorf("generatorURL is a JSON %s, not a string", fv.Type())
				return
			}
			a.GeneratorURL = string(s)
		}
	})
	return a, err
}

// labelSet reads an object of strings; null is none.
func (d *amAlertDecoder) labelSet(field string, v *fastjson.Value) (model.LabelSet, error) {
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	obj, err := v.Object()
	if err != nil {
		return nil, fmt.Errorf("%s is a JSON %s, not an object of strings", field, v.Type())
	}
	ls := make(model.LabelSet, obj.Len())
	obj.Visit(func(key []byte, lv *fastjson.Value) {
		if err != nil {
			return
		}
		s, e := lv.StringBytes()
		if e != nil {
			err = fmt.Errorf("%s: %q is a JSON %s, not a string", field, key, lv.Type())
			return
		}
		ls[model.LabelName(d.intern(key))] = model.LabelValue(d.intern(s))
	})
	return ls, err
}

// amPostedTime reads an RFC 3339 time; null is the zero time.
func amPostedTime(field string, v *fastjson.Value) (time.Time, error) {
	if v.Type() == fastjson.TypeNull {
		return time.Time{}, nil
	}
	s, err := v.StringBytes()
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is a JSON %s, not a time such as \"2026-11-27T12:00:00Z\"", field, v.Type())
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 time such as \"2026-11-27T12:00:00Z\"", field, s)
	}
	return t, nil
}
