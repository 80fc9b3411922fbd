// fcgi-pm: run an unchanged node-fastcgi app under a pool of workers.

export { runApp, planApp, type RunAppOptions, type AppPlan } from './run-app';
