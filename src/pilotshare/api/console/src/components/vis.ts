// vis-timeline and its styles, imported only by timeline.tsx's dynamic import: their chunk is
// fetched by the first timeline a page draws.
import * as vis from "vis-timeline/standalone";
import "vis-timeline/styles/vis-timeline-graph2d.css";

export { vis };
