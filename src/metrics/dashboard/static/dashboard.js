// @ts-check
/* The dashboard's entry point (a module, loaded after Chart.js's classic script): starts the history view first,
 * so the first live poll already knows which range the charts show, then polls. A hidden tab stops polling. */
import { pauseHistory, resumeHistory, startHistoryView } from './history-view.js';
import { startLive, stopLive } from './live-view.js';

startHistoryView();
startLive();

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    stopLive();
    pauseHistory();
  } else {
    startLive();
    resumeHistory();
  }
});
