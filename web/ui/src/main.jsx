// Entry point: applies the theme before the first paint of the app, then
// mounts the shell.
import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { App } from './app.jsx';
import { applyTheme, currentTheme } from './theme.js';

applyTheme(currentTheme());
render(<App />, document.getElementById('app'));
