// The renderer of each panel type Vigil draws. A renderer receives
// { panel, frames, range, vars, onZoom, onDrawn }; one that draws after
// rendering (a canvas) sets drawsAsync and calls onDrawn.
import { TimeseriesPanel } from './timeseries.jsx';
import { StatPanel } from './stat.jsx';
import { BarGaugePanel, GaugePanel } from './gauge.jsx';
import { TablePanel } from './table.jsx';
import { HeatmapPanel } from './heatmap.jsx';
import { TextPanel } from './text.jsx';

export { framePoints } from './data.js';

export const renderers = {
  timeseries: TimeseriesPanel,
  graph: TimeseriesPanel,
  stat: StatPanel,
  singlestat: StatPanel,
  gauge: GaugePanel,
  bargauge: BarGaugePanel,
  table: TablePanel,
  'table-old': TablePanel,
  heatmap: HeatmapPanel,
  text: TextPanel,
};
