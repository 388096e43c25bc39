// The timeseries panel (and the legacy graph panel, whose options
// model.js maps onto the timeseries ones): a uPlot chart.
import { useMemo } from 'preact/hooks';
import { TimeChart } from '../chart.js';
import { cssColor, seriesColor } from '../colors.js';
import { applyOverrides, fieldDefaults, legendOptions } from '../dashboard/model.js';
import { timeSeries } from './data.js';

export function TimeseriesPanel({ panel, frames, range, onZoom, onDrawn }) {
  const d = fieldDefaults(panel);
  const custom = d.custom || {};
  const data = useMemo(() => {
    const ts = timeSeries(frames, range);
    const fixed = d.color && d.color.mode === 'fixed' && d.color.fixedColor ? cssColor(d.color.fixedColor) : null;
    const series = applyOverrides(panel, ts.series)
      .map((s, i) => ({ ...s, color: s.colorSpec ? cssColor(s.colorSpec, seriesColor(i)) : fixed || seriesColor(i) }))
      .filter((s) => !s.hidden);
    return { x: ts.x, series };
  }, [frames, range, panel]);
  const tooltip = panel.options && panel.options.tooltip && panel.options.tooltip.mode;
  return (
    <TimeChart data={data} start={range.start} end={range.end} unit={d.unit} decimals={d.decimals}
      min={d.min} max={d.max} softMin={custom.axisSoftMin} softMax={custom.axisSoftMax}
      drawStyle={custom.drawStyle} lineWidth={custom.lineWidth} fillOpacity={custom.fillOpacity}
      showPoints={custom.showPoints} pointSize={custom.pointSize}
      stacking={custom.stacking && custom.stacking.mode} legend={legendOptions(panel)}
      tooltip={tooltip === 'single' || tooltip === 'none' ? tooltip : 'multi'}
      onZoom={onZoom} onDrawn={onDrawn} />
  );
}
TimeseriesPanel.drawsAsync = true;
