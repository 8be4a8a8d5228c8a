package dma.trainer.report;

import dma.trainer.report.MetricsLog.Metric;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.general.DatasetUtils;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PNG charts of a run (900×560). Empty inputs are not an error: the chart is still written and says "no data", so a
 * report that links the images never has a broken link. Metrics carry accuracy as a fraction (drawn in %); the
 * curves of {@link #accuracyVsCost} and {@link #accuracyVsWallTime} are built by the caller in the plotted units.
 * Non-finite points (a diverged loss) are left out, as they would wreck the axis range.
 */
public final class Plots {
    public static final int WIDTH = 900, HEIGHT = 560;

    static {
        // Training machines have no display; must be set before the first AWT class loads. An explicit -D wins.
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    // tab10: distinguishable on white and for most colour-blind readers (JFreeChart's default palette includes yellow).
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728),
            new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf)};

    private Plots() {}

    /** Training loss against step, one line per stage. */
    public static void lossPerStage(List<Metric> metrics, Path png) throws IOException {
        save(lossChart(metrics), png);
    }

    /**
     * Evaluation accuracy against epoch, one line per stage; only metrics that carry an evaluation count. {@code evaluatedOn}
     * (may be null) is printed under the title: which set, how many images.
     */
    public static void accuracyPerStage(List<Metric> metrics, Path png, String evaluatedOn) throws IOException {
        save(noted(accuracyChart(metrics), evaluatedOn), png);
    }

    /**
     * Accuracy against cumulative training cost, one line per method ("E2E", "Model Assembling").
     * Each point is {FLOPs, accuracy in %} or {FLOPs, mean accuracy, sd} (then drawn with a ± sd bar); the axis unit
     * (GFLOP … EFLOP) follows the largest cost.
     */
    public static void accuracyVsCost(Map<String, List<double[]>> curves, Path png, String evaluatedOn) throws IOException {
        save(noted(costChart(curves), evaluatedOn), png);
    }

    /** Accuracy against cumulative training time, one line per method; each point is {minutes, accuracy in %}. */
    public static void accuracyVsWallTime(Map<String, List<double[]>> curves, Path png, String evaluatedOn) throws IOException {
        save(noted(curves("Accuracy vs training time", "training time (minutes)", curves, 1), evaluatedOn), png);
    }

    /**
     * Accuracy against a study axis (depth, data fraction, …), one line per series, points {x, mean accuracy in %} or
     * {x, mean, standard deviation} (then drawn with a ± sd bar); the x axis spans the data, not zero.
     */
    public static void accuracyAgainst(String title, String xLabel, Map<String, List<double[]>> series, Path png, String note) throws IOException {
        save(noted(spreadChart(title, xLabel, series), note), png);
    }

    /**
     * Accuracy for each value of a study axis that is not a number (an init, a method variant): one column per value,
     * one point per series at its mean with a ± sd bar (values {mean, sd} in %, sd NaN for one seed), no lines between
     * columns since they are not a scale; the y axis spans the data, not zero.
     */
    public static void accuracyByCategory(String title, String xLabel, Map<String, Map<String, double[]>> byCategory, Path png,
                                          String note) throws IOException {
        save(noted(categoryChart(title, xLabel, byCategory), note), png);
    }

    static JFreeChart categoryChart(String title, String xLabel, Map<String, Map<String, double[]>> byCategory) {
        org.jfree.data.statistics.DefaultStatisticalCategoryDataset data = new org.jfree.data.statistics.DefaultStatisticalCategoryDataset();
        byCategory.forEach((category, points) -> points.forEach((series, p) ->
                data.add(p[0], Double.isFinite(p[1]) ? p[1] : 0, series, category)));
        JFreeChart chart = ChartFactory.createLineChart(title, xLabel, "accuracy (%)", data, PlotOrientation.VERTICAL, true, false, false);
        org.jfree.chart.renderer.category.StatisticalLineAndShapeRenderer renderer =
                new org.jfree.chart.renderer.category.StatisticalLineAndShapeRenderer(false, true);
        renderer.setErrorIndicatorStroke(new BasicStroke(1.5f));
        renderer.setUseSeriesOffset(true); // the series of one column side by side, not on top of each other
        renderer.setItemMargin(0.3);
        ((NumberAxis) chart.getCategoryPlot().getRangeAxis()).setAutoRangeIncludesZero(false);
        return styled(chart, renderer, data.getRowCount());
    }

    static JFreeChart spreadChart(String title, String xLabel, Map<String, List<double[]>> series) {
        Map<String, XYSeries> s = new LinkedHashMap<>();
        series.forEach((name, points) -> {
            XYSeries xy = s.computeIfAbsent(name, k -> new XYSeries(k, true, true));
            for (double[] p : points) point(xy, p[0], p[1]);
        });
        return withSpread(chart(title, xLabel, "accuracy (%)", s, true, false), series, 1);
    }

    /**
     * The spread over seeds of points {x, y, sd} as ± sd bars behind the lines, in each line's colour, not in the
     * legend (x divided by {@code xScale}, as the lines' are); the chart as it is when no point has a spread.
     */
    private static JFreeChart withSpread(JFreeChart chart, Map<String, List<double[]>> series, double xScale) {
        if (series.values().stream().flatMap(List::stream).noneMatch(p -> p.length > 2)) return chart;
        org.jfree.data.xy.YIntervalSeriesCollection bars = new org.jfree.data.xy.YIntervalSeriesCollection();
        series.forEach((name, points) -> {
            org.jfree.data.xy.YIntervalSeries bar = new org.jfree.data.xy.YIntervalSeries(name);
            for (double[] p : points) {
                double sd = p.length > 2 && Double.isFinite(p[2]) ? p[2] : 0;
                if (Double.isFinite(p[0]) && Double.isFinite(p[1])) bar.add(p[0] / xScale, p[1], p[1] - sd, p[1] + sd);
            }
            bars.addSeries(bar);
        });
        XYPlot plot = chart.getXYPlot();
        org.jfree.chart.renderer.xy.XYErrorRenderer err = new org.jfree.chart.renderer.xy.XYErrorRenderer();
        err.setDefaultLinesVisible(false);
        err.setDefaultShapesVisible(false);
        err.setDrawXError(false);
        err.setCapLength(8);
        err.setErrorStroke(new BasicStroke(1.5f));
        err.setDefaultSeriesVisibleInLegend(false);
        for (int i = 0; i < bars.getSeriesCount(); i++) err.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        plot.setDataset(1, bars);
        plot.setRenderer(1, err);
        return chart;
    }

    /** The chart with {@code note} as a subtitle (what the accuracies were measured on), or as it is for a null note. */
    static JFreeChart noted(JFreeChart chart, String note) {
        if (note != null) chart.addSubtitle(new org.jfree.chart.title.TextTitle(note, new Font(Font.SANS_SERIF, Font.PLAIN, 13)));
        return chart;
    }

    /**
     * Lines of measured points (a benchmark's time against a model size, say), one per series, with markers; both
     * axes start at zero so that growth reads as proportion. Each point is {x, y} in the plotted units.
     */
    public static void lines(String title, String xLabel, String yLabel, Map<String, List<double[]>> series, Path png) throws IOException {
        save(linesChart(title, xLabel, yLabel, series), png);
    }

    /**
     * Grouped bars: one group per category (a workload), one bar per series (ours, the peer's) with its value; a
     * benchmark's side-by-side figures, say.
     */
    public static void bars(String title, String yLabel, Map<String, Map<String, Double>> groups, Path png) throws IOException {
        save(barChart(title, yLabel, groups), png);
    }

    static JFreeChart barChart(String title, String yLabel, Map<String, Map<String, Double>> groups) {
        org.jfree.data.category.DefaultCategoryDataset data = new org.jfree.data.category.DefaultCategoryDataset();
        groups.forEach((category, bars) -> bars.forEach((series, value) -> data.addValue(value, series, category)));
        JFreeChart chart = ChartFactory.createBarChart(title, null, yLabel, data, PlotOrientation.VERTICAL, true, false, false);
        org.jfree.chart.renderer.category.BarRenderer renderer = (org.jfree.chart.renderer.category.BarRenderer) chart.getCategoryPlot().getRenderer();
        renderer.setBarPainter(new org.jfree.chart.renderer.category.StandardBarPainter());
        renderer.setShadowVisible(false);
        return styled(chart, renderer, data.getRowCount());
    }

    /** A category chart in the house style: white, light grid, the palette on {@code renderer}'s series, readable fonts. */
    private static JFreeChart styled(JFreeChart chart, org.jfree.chart.renderer.category.AbstractCategoryItemRenderer renderer, int series) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        org.jfree.chart.plot.CategoryPlot plot = chart.getCategoryPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(new Color(0xdddddd));
        for (int i = 0; i < series; i++) renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        plot.setRenderer(renderer);
        Font label = new Font(Font.SANS_SERIF, Font.PLAIN, 14), ticks = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
        plot.getDomainAxis().setLabelFont(label);
        plot.getDomainAxis().setTickLabelFont(label);
        plot.getRangeAxis().setLabelFont(label);
        plot.getRangeAxis().setTickLabelFont(ticks);
        if (chart.getLegend() != null) chart.getLegend().setItemFont(label);
        return chart;
    }

    // The chart builders are package-private so tests can check what is drawn, not only that a PNG exists.

    static JFreeChart lossChart(List<Metric> metrics) {
        Map<String, XYSeries> series = new LinkedHashMap<>();
        for (Metric m : metrics) point(stageSeries(series, m), m.step(), m.loss());
        return chart("Training loss per stage", "step", "training loss", series, false, false);
    }

    static JFreeChart accuracyChart(List<Metric> metrics) {
        Map<String, XYSeries> series = new LinkedHashMap<>();
        for (Metric m : metrics)
            if (m.evalAccuracy() != null) point(stageSeries(series, m), m.epoch(), 100 * m.evalAccuracy());
        JFreeChart chart = chart("Evaluation accuracy per stage", "epoch", "accuracy (%)", series, true, false);
        ((NumberAxis) chart.getXYPlot().getDomainAxis()).setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        return chart;
    }

    static JFreeChart costChart(Map<String, List<double[]>> curves) {
        double max = curves.values().stream().flatMap(List::stream).mapToDouble(p -> p[0]).filter(Double::isFinite).max().orElse(0);
        String[] units = {"GFLOP", "TFLOP", "PFLOP", "EFLOP"};
        int u = 0;
        while (u < units.length - 1 && max >= 1e9 * Math.pow(1000, u + 1)) u++;
        return curves("Accuracy vs training cost", "training cost (" + units[u] + ")", curves, 1e9 * Math.pow(1000, u));
    }

    private static JFreeChart curves(String title, String xLabel, Map<String, List<double[]>> curves, double xScale) {
        Map<String, XYSeries> series = new LinkedHashMap<>();
        curves.forEach((method, points) -> {
            // Drawn in the caller's order, repeated costs kept: assembling is a step at constant cost (meta → assembled).
            XYSeries s = series.computeIfAbsent(method, k -> new XYSeries(k, false, true));
            for (double[] p : points) point(s, p[0] / xScale, p[1]);
        });
        return withSpread(chart(title, xLabel, "accuracy (%)", series, true, true), curves, xScale);
    }

    static JFreeChart linesChart(String title, String xLabel, String yLabel, Map<String, List<double[]>> curves) {
        Map<String, XYSeries> series = new LinkedHashMap<>();
        curves.forEach((name, points) -> {
            XYSeries s = series.computeIfAbsent(name, k -> new XYSeries(k, true, false));
            for (double[] p : points) point(s, p[0], p[1]);
        });
        JFreeChart chart = chart(title, xLabel, yLabel, series, true, true);
        ((NumberAxis) chart.getXYPlot().getRangeAxis()).setAutoRangeIncludesZero(true);
        // whole-number x (depths, module indices) gets whole-number ticks, not 0.2 steps between them
        if (curves.values().stream().flatMap(List::stream).allMatch(p -> p[0] == Math.rint(p[0])))
            ((NumberAxis) chart.getXYPlot().getDomainAxis()).setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        return chart;
    }

    private static XYSeries stageSeries(Map<String, XYSeries> series, Metric m) {
        // Sorted, no duplicate x: a resumed run logs some steps again, and addOrUpdate keeps the later value instead of a zigzag.
        return series.computeIfAbsent(m.stage(), k -> new XYSeries(k, true, false));
    }

    private static void point(XYSeries s, double x, double y) {
        if (Double.isFinite(x) && Double.isFinite(y)) s.addOrUpdate(x, y);
    }

    private static JFreeChart chart(String title, String xLabel, String yLabel, Map<String, XYSeries> series,
                                    boolean shapes, boolean xFromZero) {
        XYSeriesCollection data = new XYSeriesCollection();
        series.values().forEach(data::addSeries);
        JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data, PlotOrientation.VERTICAL, true, false, false);
        chart.setBackgroundPaint(Color.WHITE);
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(new Color(0xdddddd));
        plot.setRangeGridlinePaint(new Color(0xdddddd));
        plot.setNoDataMessage("no data");
        plot.setNoDataMessageFont(new Font(Font.SANS_SERIF, Font.PLAIN, 20));
        Font label = new Font(Font.SANS_SERIF, Font.PLAIN, 14), ticks = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
        for (NumberAxis axis : new NumberAxis[]{(NumberAxis) plot.getDomainAxis(), (NumberAxis) plot.getRangeAxis()}) {
            axis.setLabelFont(label);
            axis.setTickLabelFont(ticks);
            axis.setTickLabelsVisible(!DatasetUtils.isEmptyOrNull(data)); // ticks of an empty chart would suggest a scale
        }
        // Accuracy differences of a few points must stay visible, so the y axis does not stretch down to zero.
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        ((NumberAxis) plot.getDomainAxis()).setAutoRangeIncludesZero(xFromZero);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, shapes);
        for (int i = 0; i < data.getSeriesCount(); i++) {
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            // Past ten series (K = 16 incubations) colours repeat, so the repeats are dashed.
            renderer.setSeriesStroke(i, i < PALETTE.length ? new BasicStroke(2f)
                    : new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{6f, 4f}, 0f));
        }
        plot.setRenderer(renderer);
        if (chart.getLegend() != null) chart.getLegend().setItemFont(label);
        return chart;
    }

    private static void save(JFreeChart chart, Path png) throws IOException {
        Path dir = png.toAbsolutePath().getParent();
        if (dir != null) Files.createDirectories(dir);
        ChartUtils.saveChartAsPNG(png.toFile(), chart, WIDTH, HEIGHT);
    }
}
