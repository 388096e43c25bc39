package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// This file holds the Slack incoming-webhook and PagerDuty Events API v2
// integrations, with Alertmanager's payloads and default texts.

// postJSON posts v to url and fails unless the answer is 2xx.
func postJSON(ctx context.Context, client *http.Client, url string, h *HTTPConfig, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil")
	if err := authorize(req, h); err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s: %q", redactURL(url), resp.Status, snippet)
	}
	return nil
}

type slack struct {
	cfg    *SlackConfig
	tmpl   *Templates
	client *http.Client
}

func (s *slack) Kind() string       { return "slack" }
func (s *slack) SendResolved() bool { return s.cfg.SendResolved != nil && *s.cfg.SendResolved }

// slackAttachment and slackMessage are the fields of Slack's legacy
// attachments that Alertmanager sends.
type slackAttachment struct {
	Title     string   `json:"title,omitempty"`
	TitleLink string   `json:"title_link,omitempty"`
	Pretext   string   `json:"pretext,omitempty"`
	Text      string   `json:"text"`
	Fallback  string   `json:"fallback"`
	Color     string   `json:"color,omitempty"`
	Footer    string   `json:"footer,omitempty"`
	MrkdwnIn  []string `json:"mrkdwn_in,omitempty"`
}

type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconEmoji   string            `json:"icon_emoji,omitempty"`
	IconURL     string            `json:"icon_url,omitempty"`
	LinkNames   bool              `json:"link_names,omitempty"`
	Attachments []slackAttachment `json:"attachments"`
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func (s *slack) Notify(ctx context.Context, _ string, d *Data) error {
	c := s.cfg
	var err error
	render := func(tmpl string) string {
		if err != nil {
			return ""
		}
		var out string
		out, err = s.tmpl.Text(tmpl, d)
		return out
	}
	att := slackAttachment{
		Title:     render(or(c.Title, `{{ template "slack.default.title" . }}`)),
		TitleLink: render(or(c.TitleLink, `{{ template "slack.default.titlelink" . }}`)),
		Pretext:   render(c.Pretext),
		Text:      render(or(c.Text, `{{ template "slack.default.text" . }}`)),
		Fallback:  render(or(c.Fallback, `{{ template "slack.default.title" . }}`)),
		Color:     render(or(c.Color, `{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}`)),
		Footer:    render(c.Footer),
		MrkdwnIn:  c.MrkdwnIn,
	}
	if att.MrkdwnIn == nil {
		att.MrkdwnIn = []string{"fallback", "pretext", "text"}
	}
	msg := slackMessage{Channel: render(c.Channel), Username: render(c.Username), IconEmoji: render(c.IconEmoji),
		IconURL: render(c.IconURL), LinkNames: c.LinkNames, Attachments: []slackAttachment{att}}
	if err != nil {
		return fmt.Errorf("slack template: %w", err)
	}
	u, err := readSecret(c.APIURL, c.APIURLFile)
	if err != nil {
		return fmt.Errorf("api_url_file: %w", err)
	}
	return postJSON(ctx, s.client, u, c.HTTPConfig, msg)
}

type pagerduty struct {
	cfg    *PagerdutyConfig
	tmpl   *Templates
	client *http.Client
}

func (p *pagerduty) Kind() string { return "pagerduty" }
func (p *pagerduty) SendResolved() bool {
	return p.cfg.SendResolved == nil || *p.cfg.SendResolved
}

// pagerdutyEvent is an Events API v2 event.
type pagerdutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	DedupKey    string            `json:"dedup_key"`
	EventAction string            `json:"event_action"` // trigger or resolve
	Payload     *pagerdutyPayload `json:"payload"`
	Client      string            `json:"client,omitempty"`
	ClientURL   string            `json:"client_url,omitempty"`
}

type pagerdutyPayload struct {
	Summary       string            `json:"summary"`
	Source        string            `json:"source"`
	Severity      string            `json:"severity"`
	Class         string            `json:"class,omitempty"`
	Component     string            `json:"component,omitempty"`
	Group         string            `json:"group,omitempty"`
	CustomDetails map[string]string `json:"custom_details,omitempty"`
}

// Notify triggers (or resolves, when the group's alerts all resolved)
// the incident whose dedup key is the SHA-256 of the group key, as
// Alertmanager does, so that one group is one incident.
func (p *pagerduty) Notify(ctx context.Context, groupKey string, d *Data) error {
	c := p.cfg
	var err error
	render := func(tmpl string) string {
		if err != nil {
			return ""
		}
		var out string
		out, err = p.tmpl.Text(tmpl, d)
		return out
	}
	sum := sha256.Sum256([]byte(groupKey))
	ev := pagerdutyEvent{DedupKey: hex.EncodeToString(sum[:]), EventAction: "trigger",
		Client: or(render(c.Client), "Vigil"), ClientURL: render(or(c.ClientURL, "{{ .ExternalURL }}"))}
	if d.Status == "resolved" {
		ev.EventAction = "resolve"
	}
	summary := render(or(c.Description, `{{ template "pagerduty.default.description" . }}`))
	if len(summary) > 1024 {
		summary = summary[:1021] + "..."
	}
	ev.Payload = &pagerdutyPayload{Summary: summary, Source: or(render(c.Source), ev.Client),
		Severity: or(render(c.Severity), "error"), Class: render(c.Class), Component: render(c.Component), Group: render(c.Group),
		CustomDetails: map[string]string{}}
	details := c.Details
	if details == nil {
		details = map[string]string{
			"firing":       `{{ template "pagerduty.default.instances" .Alerts.Firing }}`,
			"resolved":     `{{ template "pagerduty.default.instances" .Alerts.Resolved }}`,
			"num_firing":   `{{ .Alerts.Firing | len }}`,
			"num_resolved": `{{ .Alerts.Resolved | len }}`,
		}
	}
	for k, v := range details {
		ev.Payload.CustomDetails[k] = render(v)
	}
	if err != nil {
		return fmt.Errorf("pagerduty template: %w", err)
	}
	if ev.RoutingKey, err = readSecret(c.RoutingKey, c.RoutingKeyFile); err != nil {
		return fmt.Errorf("routing_key_file: %w", err)
	}
	return postJSON(ctx, p.client, c.URL, c.HTTPConfig, ev)
}
