// The package ships no types; this is the shape it returns for the text exposition format.
declare module 'parse-prometheus-text-format' {
  interface SampleMetric {
    labels?: Record<string, string>;
    value: string;
  }
  interface HistogramMetric {
    labels?: Record<string, string>;
    buckets: Record<string, string>;
    count: string;
    sum: string;
  }
  interface MetricFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: (SampleMetric | HistogramMetric)[];
  }
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
