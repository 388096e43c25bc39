package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Integration delivers one notification of a group to one destination.
type Integration interface {
	// Notify sends d; an error means it may be retried.
	Notify(ctx context.Context, groupKey string, d *Data) error
	SendResolved() bool
	Kind() string // "webhook", "email"
}

// WebhookMessage is Alertmanager's version-4 webhook payload; its JSON
// has the same field names in the same order.
type WebhookMessage struct {
	*Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// SignatureHeader carries the HMAC-SHA256 of a webhook body when the
// webhook has an hmac_secret: "sha256=" and the hex digest.
const SignatureHeader = "X-Vigil-Signature"

type webhook struct {
	cfg    *WebhookConfig
	client *http.Client
}

func newWebhook(c *WebhookConfig) (*webhook, error) {
	client, err := newHTTPClient(c.HTTPConfig)
	if err != nil {
		return nil, err
	}
	return &webhook{cfg: c, client: client}, nil
}

func (w *webhook) Kind() string { return "webhook" }

func (w *webhook) SendResolved() bool { return w.cfg.SendResolved == nil || *w.cfg.SendResolved }

func readSecret(value, file string) (string, error) {
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	return strings.TrimSpace(string(b)), err
}

func (w *webhook) Notify(ctx context.Context, groupKey string, d *Data) error {
	msg := WebhookMessage{Data: d, Version: "4", GroupKey: groupKey}
	if n := w.cfg.MaxAlerts; n > 0 && uint64(len(d.Alerts)) > n {
		truncated := *d
		truncated.Alerts = d.Alerts[:n]
		msg.Data, msg.TruncatedAlerts = &truncated, uint64(len(d.Alerts))-n
	}
	// Encoded as Alertmanager encodes it, with its final newline.
	body, err := appendWebhookMessage(make([]byte, 0, 512+400*len(msg.Alerts)), &msg)
	if err != nil {
		return fmt.Errorf("cannot encode the notification: %w", err)
	}
	u, err := readSecret(w.cfg.URL, w.cfg.URLFile)
	if err != nil {
		return fmt.Errorf("url_file: %w", err)
	}
	if w.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(w.cfg.Timeout))
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Vigil")
	if secret, err := readSecret(w.cfg.HMACSecret, w.cfg.HMACSecretFile); err != nil {
		return fmt.Errorf("hmac_secret_file: %w", err)
	} else if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	if err := authorize(req, w.cfg.HTTPConfig); err != nil {
		return err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s: %q", redactURL(u), resp.Status, snippet)
	}
	return nil
}

// authorize adds http_config's basic_auth, authorization or bearer_token
// to req; the *_file secrets are read at each request, so that a rotated
// file is taken without a reload.
func authorize(req *http.Request, h *HTTPConfig) error {
	if h == nil {
		return nil
	}
	switch {
	case h.BasicAuth != nil:
		p, err := readSecret(h.BasicAuth.Password, h.BasicAuth.PasswordFile)
		if err != nil {
			return err
		}
		req.SetBasicAuth(h.BasicAuth.Username, p)
	case h.Authorization != nil:
		c, err := readSecret(h.Authorization.Credentials, h.Authorization.CredentialsFile)
		if err != nil {
			return err
		}
		typ := h.Authorization.Type
		if typ == "" {
			typ = "Bearer"
		}
		req.Header.Set("Authorization", typ+" "+c)
	case h.BearerToken != "":
		req.Header.Set("Authorization", "Bearer "+h.BearerToken)
	}
	return nil
}

// redactURL keeps the scheme and host of a URL for messages: webhook
// URLs often carry tokens in their path.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[:i+3+j] + "/<redacted>"
		}
	}
	return u
}
