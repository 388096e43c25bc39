// The current alerts as the Alerts page and the silence form see them: the
// rules' firing and pending alerts (/api/v1/alerts) joined with
// Alertmanager's view of them (/api/v2/alerts: silenced, inhibited, the
// receivers), plus alerts that reached Alertmanager from elsewhere (POST
// /api/v2/alerts), which have no rule behind them.
import { get } from '../api.js';
import { labelsKey } from './common.jsx';

/**
 * loadAlerts returns [{ key, labels, annotations, state, activeAt, value,
 * silencedBy, inhibitedBy, receivers, generatorURL, source }], where state
 * is 'firing' or 'pending', and source 'rule' or 'external'.
 */
export async function loadAlerts(signal) {
  const [v1, v2] = await Promise.all([
    get('/api/v1/alerts', null, { signal }),
    get('/api/v2/alerts', null, { signal }),
  ]);
  const am = new Map();
  for (const a of v2 || []) am.set(labelsKey(a.labels || {}), a);
  const out = [];
  for (const a of (v1 && v1.alerts) || []) {
    const key = labelsKey(a.labels || {});
    const m = am.get(key);
    am.delete(key);
    out.push({
      key,
      labels: a.labels || {},
      annotations: a.annotations || {},
      state: a.state === 'pending' ? 'pending' : 'firing',
      activeAt: a.activeAt,
      value: a.value,
      silencedBy: (m && m.status && m.status.silencedBy) || [],
      inhibitedBy: (m && m.status && m.status.inhibitedBy) || [],
      receivers: ((m && m.receivers) || []).map((r) => r.name),
      generatorURL: (m && m.generatorURL) || '',
      source: 'rule',
    });
  }
  for (const [key, m] of am) {
    out.push({
      key,
      labels: m.labels || {},
      annotations: m.annotations || {},
      state: 'firing',
      activeAt: m.startsAt,
      value: '',
      silencedBy: (m.status && m.status.silencedBy) || [],
      inhibitedBy: (m.status && m.status.inhibitedBy) || [],
      receivers: (m.receivers || []).map((r) => r.name),
      generatorURL: m.generatorURL || '',
      source: 'external',
    });
  }
  return out;
}
