package notify

import (
	"slices"
	"strconv"
	"time"

	"github.com/vigil-monitoring/vigil/internal/jsonstr"
)

// This file writes the webhook payload by appending, byte for byte what
// json.NewEncoder(w).Encode(msg) writes (and so what Alertmanager sends),
// without reflection: a flush of a large group spent most of its CPU in
// encoding/json, sorting each alert's label maps through reflect.

// appendWebhookMessage appends m's JSON and a newline to b. It fails only
// where encoding/json fails: a time outside years 0-9999.
func appendWebhookMessage(b []byte, m *WebhookMessage) ([]byte, error) {
	b = append(b, '{')
	if d := m.Data; d != nil {
		var err error
		b = append(b, `"receiver":`...)
		b = jsonstr.Append(b, d.Receiver)
		b = append(b, `,"status":`...)
		b = jsonstr.Append(b, d.Status)
		b = append(b, `,"alerts":`...)
		if b, err = appendTemplateAlerts(b, d.Alerts); err != nil {
			return b, err
		}
		b = append(b, `,"notification_reason":`...)
		b = jsonstr.Append(b, d.NotificationReason)
		b = appendKV(append(b, `,"groupLabels":`...), d.GroupLabels)
		b = appendKV(append(b, `,"commonLabels":`...), d.CommonLabels)
		b = appendKV(append(b, `,"commonAnnotations":`...), d.CommonAnnotations)
		b = appendKV(append(b, `,"routeLabels":`...), d.RouteLabels)
		b = append(b, `,"externalURL":`...)
		b = jsonstr.Append(b, d.ExternalURL)
		b = append(b, ',')
	}
	b = append(b, `"version":`...)
	b = jsonstr.Append(b, m.Version)
	b = append(b, `,"groupKey":`...)
	b = jsonstr.Append(b, m.GroupKey)
	b = append(b, `,"truncatedAlerts":`...)
	b = strconv.AppendUint(b, m.TruncatedAlerts, 10)
	return append(b, "}\n"...), nil
}

func appendTemplateAlerts(b []byte, as TemplateAlerts) ([]byte, error) {
	if as == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range as {
		a := &as[i]
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		b = append(b, `{"status":`...)
		b = jsonstr.Append(b, a.Status)
		b = appendKV(append(b, `,"labels":`...), a.Labels)
		b = appendKV(append(b, `,"annotations":`...), a.Annotations)
		if b, err = appendJSONTime(append(b, `,"startsAt":`...), a.StartsAt); err != nil {
			return b, err
		}
		if b, err = appendJSONTime(append(b, `,"endsAt":`...), a.EndsAt); err != nil {
			return b, err
		}
		b = append(b, `,"generatorURL":`...)
		b = jsonstr.Append(b, a.GeneratorURL)
		b = append(b, `,"fingerprint":`...)
		b = jsonstr.Append(b, a.Fingerprint)
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendKV writes kv with its keys sorted, as encoding/json writes maps.
func appendKV(b []byte, kv KV) []byte {
	if kv == nil {
		return append(b, "null"...)
	}
	var arr [16]string // on the stack for the usual label sets
	keys := arr[:0]
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(jsonstr.Append(b, k), ':')
		b = jsonstr.Append(b, kv[k])
	}
	return append(b, '}')
}

// appendJSONTime is time.Time's MarshalJSON, appending. The times it
// refuses or that are rare (years outside 0-9999, zone offsets of a day
// or more) go through it.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if _, off := t.Zone(); t.Year() < 0 || t.Year() > 9999 || off <= -24*3600 || off >= 24*3600 {
		j, err := t.MarshalJSON()
		return append(b, j...), err
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}
