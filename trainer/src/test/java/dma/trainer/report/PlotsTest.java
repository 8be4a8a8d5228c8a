package dma.trainer.report;

import dma.trainer.report.MetricsLog.Metric;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.data.xy.XYDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlotsTest {
    static void assertPng(Path png) throws IOException {
        byte[] head = Arrays.copyOf(Files.readAllBytes(png), 8);
        assertArrayEquals(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, head, png + " is not a PNG");
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img, png.toString());
        assertEquals(Plots.WIDTH, img.getWidth());
        assertEquals(Plots.HEIGHT, img.getHeight());
    }

    static List<Metric> metrics() {
        List<Metric> ms = new ArrayList<>();
        String[] stages = {"meta", "incubate-0", "incubate-1", "finetune"};
        for (int s = 0; s < stages.length; s++)
            for (int step = 0; step <= 200; step += 10) {
                int epoch = step / 50;
                Double acc = step % 50 == 0 ? 0.3 + 0.1 * s + 0.05 * epoch : null;
                ms.add(new Metric(stages[s], step, epoch, 2.3 * Math.exp(-step / (80.0 + 20 * s)) + 0.2, 1e-3, 500, acc, step, step * 1_000_000L));
            }
        ms.add(new Metric("meta", 100, 2, 0.9, 1e-3, 500, null, 100, 1)); // a resumed run logs step 100 again: the later value wins
        ms.add(new Metric("finetune", 210, 4, Double.NaN, 1e-3, 500, null, 210, 1)); // a diverged step is left out
        return ms;
    }

    static Map<String, List<double[]>> costCurves() {
        Map<String, List<double[]>> curves = new LinkedHashMap<>();
        // {FLOPs, accuracy %}; assembling drops at constant cost from the meta model to the not yet fine-tuned assembly
        curves.put("E2E", List.of(new double[]{0, 10}, new double[]{4e14, 55}, new double[]{8e14, 66}, new double[]{1.6e15, 72}));
        curves.put("Model Assembling", List.of(new double[]{0, 10}, new double[]{2e14, 58}, new double[]{6e14, 60},
                new double[]{6e14, 31}, new double[]{9e14, 74}));
        return curves;
    }

    @Test
    void writesReadableCharts(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("plots"); // created on demand
        Plots.lossPerStage(metrics(), out.resolve("loss.png"));
        Plots.accuracyPerStage(metrics(), out.resolve("accuracy.png"), null);
        Plots.accuracyVsCost(costCurves(), out.resolve("cost.png"), null);
        Map<String, List<double[]>> minutes = new LinkedHashMap<>();
        costCurves().forEach((k, v) -> minutes.put(k, v.stream().map(p -> new double[]{p[0] / 6e13, p[1]}).toList()));
        Plots.accuracyVsWallTime(minutes, out.resolve("time.png"), null);
        checkAll(out, "");
    }

    @Test
    void drawsWhatItIsGiven() {
        XYDataset loss = Plots.lossChart(metrics()).getXYPlot().getDataset();
        assertEquals(List.of("meta", "incubate-0", "incubate-1", "finetune"), List.of(loss.getSeriesKey(0), loss.getSeriesKey(1),
                loss.getSeriesKey(2), loss.getSeriesKey(3)));
        assertEquals(21, loss.getItemCount(0)); // step 100 logged twice, kept once
        assertEquals(0.9, loss.getYValue(0, 10)); // ... with the resumed run's value
        assertEquals(21, loss.getItemCount(3)); // the NaN step is left out

        XYDataset acc = Plots.accuracyChart(metrics()).getXYPlot().getDataset();
        assertEquals(5, acc.getItemCount(0)); // epochs 0..4
        assertEquals(30.0, acc.getYValue(0, 0), 1e-9); // fractions drawn in %

        JFreeChart cost = Plots.costChart(costCurves());
        assertEquals("training cost (PFLOP)", cost.getXYPlot().getDomainAxis().getLabel());
        XYDataset c = cost.getXYPlot().getDataset();
        assertEquals(1.6, c.getXValue(0, 3), 1e-12);
        assertEquals(72.0, c.getYValue(0, 3)); // curves are already in %
        assertEquals(5, c.getItemCount(1)); // the assembling drop at constant cost keeps both points, in order
        assertEquals(31.0, c.getYValue(1, 3));
        assertEquals("training cost (TFLOP)", Plots.costChart(Map.of("E2E", List.<double[]>of(new double[]{5e14, 50})))
                .getXYPlot().getDomainAxis().getLabel());
    }

    @Test
    void studyPointsCarryTheirSpreadAsBars() {
        Map<String, List<double[]>> series = new LinkedHashMap<>();
        series.put("e2e", List.of(new double[]{16, 83.3, 0.2}, new double[]{8, 83.2, 0.1}));
        series.put("assembling", List.of(new double[]{8, 83.0, Double.NaN})); // one seed: no spread, no bar
        JFreeChart chart = Plots.spreadChart("Accuracy vs depth", "depth", series);
        org.jfree.data.xy.IntervalXYDataset bars = (org.jfree.data.xy.IntervalXYDataset) chart.getXYPlot().getDataset(1);
        assertEquals(2, bars.getSeriesCount());
        assertEquals(8.0, bars.getXValue(0, 0)); // sorted by depth
        assertEquals(83.1, bars.getStartYValue(0, 0), 1e-9);
        assertEquals(83.3, bars.getEndYValue(0, 0), 1e-9);
        assertEquals(83.1, bars.getStartYValue(0, 1), 1e-9);
        assertEquals(83.5, bars.getEndYValue(0, 1), 1e-9);
        assertEquals(83.0, bars.getStartYValue(1, 0), 1e-9);
        assertEquals(83.0, bars.getEndYValue(1, 0), 1e-9);
        assertEquals(8.0, chart.getXYPlot().getDataset(0).getXValue(0, 0)); // the lines sorted by x

        // a study's accuracy against cost: the bars in the axis' unit, beside the pipeline's curves that have none
        JFreeChart cost = Plots.costChart(Map.of("e2e", List.of(new double[]{5e12, 83.0, 0.3}, new double[]{1.5e13, 83.4, 0.2})));
        var costBars = (org.jfree.data.xy.IntervalXYDataset) cost.getXYPlot().getDataset(1);
        assertEquals(15.0, costBars.getXValue(0, 1), 1e-9); // TFLOP
        assertEquals(82.7, costBars.getStartYValue(0, 0), 1e-9);
        assertEquals(83.6, costBars.getEndYValue(0, 1), 1e-9);
        assertEquals(null, Plots.costChart(costCurves()).getXYPlot().getDataset(1));
    }

    @Test
    void categoriesAreColumnsWithTheirSpread(@TempDir Path dir) throws IOException {
        Map<String, Map<String, double[]>> columns = new LinkedHashMap<>();
        columns.put("random", new LinkedHashMap<>(Map.of("e2e", new double[]{83.26, 0.47})));
        columns.put("select-weights", new LinkedHashMap<>(Map.of("e2e", new double[]{84.43, Double.NaN}))); // one seed
        columns.get("random").put("assembling", new double[]{83.18, 0.29});
        JFreeChart chart = Plots.categoryChart("Accuracy by init", "init", columns);
        var data = (org.jfree.data.statistics.StatisticalCategoryDataset) chart.getCategoryPlot().getDataset();
        assertEquals(List.of("random", "select-weights"), data.getColumnKeys()); // the axis' order
        assertEquals(84.43, data.getMeanValue("e2e", "select-weights").doubleValue(), 1e-12);
        assertEquals(0.29, data.getStdDevValue("assembling", "random").doubleValue(), 1e-12);
        assertEquals(0.0, data.getStdDevValue("e2e", "select-weights").doubleValue()); // no spread, no bar
        assertEquals(null, data.getMeanValue("assembling", "select-weights")); // a missing cell is no point, not a zero
        assertTrue(chart.getCategoryPlot().getRangeAxis().getLowerBound() > 80, "the axis spans the data, not zero");
        Plots.accuracyByCategory("Accuracy by init", "init", columns, dir.resolve("init.png"), "note");
        assertPng(dir.resolve("init.png"));
    }

    @Test
    void linesStartAtZeroAndKeepEverySeries(@TempDir Path dir) throws IOException {
        Map<String, List<double[]>> times = new LinkedHashMap<>();
        times.put("dma", List.of(new double[]{48, 400}, new double[]{12, 100}, new double[]{24, 210}));
        times.put("∝ FLOPs", List.of(new double[]{12, 100}, new double[]{24, 200}, new double[]{48, Double.NaN}));
        JFreeChart chart = Plots.linesChart("ViT step time against depth", "depth", "ms per step", times);
        XYDataset d = chart.getXYPlot().getDataset();
        assertEquals(2, d.getSeriesCount());
        assertEquals(12.0, d.getXValue(0, 0)); // sorted by x
        assertEquals(400.0, d.getYValue(0, 2));
        assertEquals(2, d.getItemCount(1)); // the NaN point is left out
        assertEquals(0.0, chart.getXYPlot().getRangeAxis().getLowerBound()); // growth reads as proportion
        assertEquals(0.0, chart.getXYPlot().getDomainAxis().getLowerBound());
        // whole-number x, whole-number ticks: no unit below 1; fractional x keeps the finer ones
        assertEquals(1.0, ((NumberAxis) chart.getXYPlot().getDomainAxis()).getStandardTickUnits().getCeilingTickUnit(0.3).getSize());
        JFreeChart fractional = Plots.linesChart("t", "x", "y", Map.of("a", List.of(new double[]{0.5, 1}, new double[]{1.5, 2})));
        assertTrue(((NumberAxis) fractional.getXYPlot().getDomainAxis()).getStandardTickUnits().getCeilingTickUnit(0.3).getSize() < 1);
        Plots.lines("ViT step time against depth", "depth", "ms per step", times, dir.resolve("depth.png"));
        assertPng(dir.resolve("depth.png"));
    }

    @Test
    void barsGroupEachCategorysSeries(@TempDir Path dir) throws IOException {
        Map<String, Map<String, Double>> groups = new java.util.LinkedHashMap<>();
        groups.put("gemm", new java.util.LinkedHashMap<>(Map.of("ours / PyTorch", 1.01)));
        groups.get("gemm").put("target", 0.95);
        groups.put("vit-step", new java.util.LinkedHashMap<>(Map.of("ours / PyTorch", 2.8)));
        groups.get("vit-step").put("target", 2.0);
        JFreeChart chart = Plots.barChart("CPU side by side", "ratio", groups);
        var data = chart.getCategoryPlot().getDataset();
        assertEquals(2, data.getRowCount());    // series: the ratio and the target
        assertEquals(2, data.getColumnCount()); // categories: the workloads, in order
        assertEquals("vit-step", data.getColumnKey(1));
        assertEquals(2.8, data.getValue("ours / PyTorch", "vit-step").doubleValue());
        assertEquals(0.95, data.getValue("target", "gemm").doubleValue());
        Plots.bars("CPU side by side", "ratio", groups, dir.resolve("ratios.png"));
        assertPng(dir.resolve("ratios.png"));
    }

    @Test
    void emptyInputsStillWriteAChart(@TempDir Path dir) throws IOException {
        Plots.lossPerStage(List.of(), dir.resolve("loss.png"));
        Plots.accuracyPerStage(metrics().stream().filter(m -> m.evalAccuracy() == null).toList(), dir.resolve("accuracy.png"), null);
        Plots.accuracyVsCost(Map.of(), dir.resolve("cost.png"), null);
        Plots.accuracyVsWallTime(Map.of("E2E", List.of()), dir.resolve("time.png"), null);
        checkAll(dir, "empty-");
    }

    static void checkAll(Path dir, String keepPrefix) throws IOException {
        String keep = System.getProperty("dma.plots.keep"); // -Ddma.plots.keep=DIR keeps the images for a look
        for (String name : new String[]{"loss.png", "accuracy.png", "cost.png", "time.png"}) {
            assertPng(dir.resolve(name));
            if (keep != null) Files.copy(dir.resolve(name), Path.of(keep, keepPrefix + name), StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
