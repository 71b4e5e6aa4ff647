package dev.cryo.conformance;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * A test class or method that needs a server this kit starts itself: it kills and restarts it,
 * arms its fail points, reads its state folder or counts its QEMU processes. Against a live
 * server ({@code -Dcryo.target}) it is skipped, with {@link #value} as the reason; {@link
 * CryoTarget} refuses those operations on a live server, so a test that needs one and is not
 * marked fails instead of passing vacuously.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(LocalServer.Condition.class)
@interface LocalServer {
  /** What the test does with the server that a remote one cannot offer. */
  String value();

  /** Disables what is marked {@link LocalServer} when the kit runs against a live server. */
  final class Condition implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
      String target = CryoTarget.externalTarget();
      if (target.isEmpty()) {
        return ConditionEvaluationResult.enabled("the kit starts its own servers");
      }
      return context
          .getElement()
          .flatMap(e -> AnnotationSupport.findAnnotation(e, LocalServer.class))
          .map(
              a ->
                  ConditionEvaluationResult.disabled(
                      "needs a server this kit starts ("
                          + a.value()
                          + "); running against "
                          + target))
          .orElse(ConditionEvaluationResult.enabled("runs against any server"));
    }
  }
}
