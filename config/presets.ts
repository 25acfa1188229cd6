/**
 * Size presets. A stack picks one with `size`; any key set explicitly in the stack file wins over it.
 * CPU follows the production guides' starting points (a worker about 0.5 CPU, main 0.5–2 CPU);
 * scale by adding workers, not by making them bigger. Memory is set
 * from what n8n 2.40.7 measured resident in `npm run bench:cluster` (README, Sizing): every n8n
 * process holds about 450–700 MiB idle, so requests sit above idle / 0.8 (the HPA's memory target
 * would otherwise see an idle pod as overloaded and scale to the maximum), and limits above the
 * peaks seen under load.
 */

export type SizeName = "small" | "medium" | "large";

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export interface ScaledWorkloadPreset {
  minReplicas: number;
  maxReplicas: number;
  resources: Resources;
  dbPoolSize: number;
}

export interface SizePreset {
  main: { resources: Resources; dbPoolSize: number };
  workers: Omit<ScaledWorkloadPreset, "dbPoolSize"> & { concurrency: number };
  webhooks: ScaledWorkloadPreset & { enabled: boolean };
  runners: { resources: Resources };
  postgres: { instances: number; storageSize: string; resources: Resources };
  redis: { storageSize: string; resources: Resources };
}

/**
 * Resident memory of n8n 2.40.7 processes in MiB, measured by `npm run bench:cluster`
 * (bench/RESULTS.md, 2026-11-23): idle after start, and the peak under a 15–20 s burst of about
 * 110 webhooks/s. Presets keep memory requests at or above idle / 0.8 and limits above the peak.
 */
export const MEASURED_N8N_RSS_MIB = {
  main: { idle: 715, peak: 1228 },
  worker: { idle: 515, peak: 781 },
  webhooks: { idle: 499, peak: 641 },
} as const;

const res = (reqCpu: string, reqMem: string, limCpu: string, limMem: string): Resources => ({
  requests: { cpu: reqCpu, memory: reqMem },
  limits: { cpu: limCpu, memory: limMem },
});

export const SIZE_PRESETS: Record<SizeName, SizePreset> = {
  small: {
    main: { resources: res("250m", "1Gi", "1", "1536Mi"), dbPoolSize: 4 },
    // Concurrency 5 keeps a 1 Gi worker clear of OOM on heavy items.
    workers: {
      minReplicas: 1,
      maxReplicas: 3,
      concurrency: 5,
      resources: res("250m", "768Mi", "1", "1Gi"),
    },
    webhooks: {
      enabled: false,
      minReplicas: 1,
      maxReplicas: 2,
      dbPoolSize: 3,
      resources: res("100m", "768Mi", "500m", "1Gi"),
    },
    runners: { resources: res("100m", "128Mi", "500m", "512Mi") },
    postgres: { instances: 1, storageSize: "10Gi", resources: res("250m", "512Mi", "1", "1Gi") },
    redis: { storageSize: "2Gi", resources: res("100m", "128Mi", "500m", "256Mi") },
  },
  medium: {
    main: { resources: res("500m", "1Gi", "2", "2Gi"), dbPoolSize: 5 },
    workers: {
      minReplicas: 2,
      maxReplicas: 6,
      concurrency: 10,
      resources: res("500m", "768Mi", "1", "1Gi"),
    },
    webhooks: {
      enabled: true,
      minReplicas: 2,
      maxReplicas: 4,
      dbPoolSize: 3,
      resources: res("250m", "768Mi", "1", "1Gi"),
    },
    runners: { resources: res("100m", "256Mi", "1", "1Gi") },
    postgres: { instances: 2, storageSize: "50Gi", resources: res("1", "2Gi", "2", "4Gi") },
    redis: { storageSize: "5Gi", resources: res("250m", "256Mi", "1", "512Mi") },
  },
  large: {
    main: { resources: res("1", "2Gi", "2", "4Gi"), dbPoolSize: 8 },
    workers: {
      minReplicas: 3,
      maxReplicas: 10,
      concurrency: 10,
      resources: res("1", "1Gi", "2", "2Gi"),
    },
    webhooks: {
      enabled: true,
      minReplicas: 2,
      maxReplicas: 6,
      dbPoolSize: 3,
      resources: res("500m", "768Mi", "1", "1Gi"),
    },
    runners: { resources: res("250m", "256Mi", "1", "1Gi") },
    postgres: { instances: 3, storageSize: "200Gi", resources: res("2", "8Gi", "4", "16Gi") },
    redis: { storageSize: "10Gi", resources: res("500m", "512Mi", "1", "1Gi") },
  },
};
